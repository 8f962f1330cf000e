"""Which AHNet layer makes bf16 gradients non-finite on CPU? A per-layer check, not a guess.

Trains MONAI's AHNet as the spleen MMAR builds it (layers 3-4-6-3, psp_block_num 2, transpose
upsampling, DiceLoss with softmax, Adam) for a few steps under CPU bf16 autocast, on synthetic
spheres. Hooks on every leaf module record, for each step:

- forward: whether the module's output is finite and its largest magnitude;
- backward: whether the gradient arriving at the module's output (grad_output) and the one it
  passes on (grad_input) are finite, and whether its own parameters' gradients are.

Gradients flow from the loss towards the input, so the culprit is the first module, in the
order backward reaches them, whose grad_output is finite and whose grad_input or parameter
gradient is not. The script names it (and its type), then checks the hypothesis: the same
steps again with that module *type* run in fp32 (autocast disabled inside it, inputs cast up)
while the rest of the network stays bf16, and reports whether every gradient is finite then.

Found 2026-12-01 on a 2-vCPU Zen 5 (AVX512_BF16), torch 2.14.1: at 32^3 x 4 (the spleen
phantom recipe's patches) every step is non-finite, first at ``dense0.denselayer3.conv2``
(Conv3d 80->20, kernel 3x3x1, padding 1x1x0) whose input is 2x2x2 after four poolings; its
forward output and the gradient reaching it are finite. Every Conv3d in fp32 makes all steps
finite. ``--kernels`` narrows it down to the operator: oneDNN's native bf16 convolution
backward returns wrong *weight* gradients (NaN, 1e28-1e37, or finite but off by 40-140 %,
varying from call to call) whenever a spatial side of a 3D input is no larger than the kernel;
forward and input gradients are right, 2D is right, larger inputs are right. clara runs such
convolutions in fp32 under bf16 autocast (`clara_cli/engine/bf16_conv_guard.py`); with that
guard every step here is finite (the last line). At 64^3 and 96^3 (bottom 4^3 and 6^3,
larger than the kernels) every bf16 step was finite to begin with. Before, on a 2-vCPU AVX2
machine without native bf16 (emulated bf16), no size showed it.

Usage::

    .venv/bin/python benchmarks/bench_ahnet_bf16.py                 # 64^3, 4 steps, ~1-2 min
    .venv/bin/python benchmarks/bench_ahnet_bf16.py --size 32 --batch 4 --steps 8
    .venv/bin/python benchmarks/bench_ahnet_bf16.py --kernels      # the operator sweep, ~5 s
"""

from __future__ import annotations

import argparse
import collections
import time
from typing import Any

import torch
from monai.data import create_test_image_3d
from monai.losses import DiceLoss
from monai.networks.nets import AHNet


def _network(seed: int, probe_ready: bool = True) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = AHNet(
        spatial_dims=3,
        in_channels=1,
        out_channels=2,
        layers=(3, 4, 6, 3),
        psp_block_num=2,
        upsample_mode="transpose",
        pretrained=False,
    )
    # Tensor hooks cannot watch in-place activations; out-of-place ones compute the same.
    for module in net.modules() if probe_ready else ():
        if getattr(module, "inplace", False):
            module.inplace = False
    return net


def _batch(size: int, batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    import numpy as np

    images, labels = [], []
    for i in range(batch):
        image, label = create_test_image_3d(
            size, size, size, num_objs=3, rad_max=size // 5, noise_max=0.2,
            random_state=np.random.RandomState(seed + i),
        )  # fmt: skip
        images.append(torch.as_tensor(image)[None])
        labels.append(torch.as_tensor(label > 0, dtype=torch.float32)[None])
    return torch.stack(images).float(), torch.stack(labels)


def _finite(value: Any) -> bool:
    tensors = value if isinstance(value, tuple | list) else (value,)
    return all(torch.isfinite(t).all().item() for t in tensors if isinstance(t, torch.Tensor))


class LayerProbe:
    """Hooks on every leaf module: its output (forward) and the gradient reaching that output.

    (Module backward hooks cannot be used: AHNet adds residuals in place, which autograd
    forbids on a hooked module's output; a hook on the output tensor sees the same gradient.)
    """

    def __init__(self, net: torch.nn.Module) -> None:
        self.forward_order: list[str] = []
        self.records: dict[str, dict[str, Any]] = collections.defaultdict(dict)
        self.handles = []
        self.modules = dict(net.named_modules())
        for name, module in net.named_modules():
            if not list(module.children()):
                self.handles.append(module.register_forward_hook(self._forward(name)))

    def _forward(self, name: str):
        def hook(module, args, output) -> None:
            out = output if isinstance(output, torch.Tensor) else output[0]
            self.forward_order.append(name)
            self.records[name]["out_finite"] = bool(torch.isfinite(out).all())
            self.records[name]["out_max"] = float(out.detach().float().abs().max())
            if out.requires_grad:
                out.register_hook(self._gradient(name))

        return hook

    def _gradient(self, name: str):
        def hook(grad: torch.Tensor) -> None:
            self.records[name]["grad_out_finite"] = bool(torch.isfinite(grad).all())
            self.records[name]["grad_out_max"] = float(grad.detach().float().abs().max())

        return hook

    def reset(self) -> None:
        self.forward_order.clear()
        self.records.clear()

    def culprit(self) -> str | None:
        """The first module, from the loss backwards, whose output gradient is finite but whose
        own weight gradients are not, or whose input (its predecessor's output) gets a
        non-finite gradient."""
        order = self.forward_order[::-1]
        for position, name in enumerate(order):
            record = self.records[name]
            if not record.get("grad_out_finite", True):
                continue
            params = [p for p in self.modules[name].parameters(recurse=False) if p.grad is not None]
            if any(not torch.isfinite(p.grad).all() for p in params):
                return name
            previous = order[position + 1] if position + 1 < len(order) else None
            if previous and not self.records[previous].get("grad_out_finite", True):
                return name
        return None


class _Fp32Island(torch.nn.Module):
    """Runs one module in fp32 inside a bf16 autocast region."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, *args: Any) -> Any:
        with torch.autocast("cpu", enabled=False):
            return self.module(*(a.float() if isinstance(a, torch.Tensor) else a for a in args))


def _islands(net: torch.nn.Module, kind: type) -> int:
    count = 0
    for module in list(net.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, kind):
                setattr(module, child_name, _Fp32Island(child))
                count += 1
    return count


def _train(net, steps: int, size: int, batch: int, seed: int, probe: LayerProbe | None):
    """Run `steps` bf16 steps; returns [(loss, grads finite, culprit)] per step."""
    loss_fn = DiceLoss(to_onehot_y=True, softmax=True)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    results = []
    for step in range(steps):
        image, label = _batch(size, batch, seed + 100 * step)
        optimizer.zero_grad(set_to_none=True)
        if probe:
            probe.reset()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = net(image)
        loss = loss_fn(out.float(), label)
        loss.backward()
        finite = all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
        culprit = probe.culprit() if probe and not finite else None
        results.append((float(loss.detach()), finite, culprit))
        if finite:
            optimizer.step()  # as the engine does: a non-finite step is never applied
    return results


def kernel_sweep() -> None:
    """bf16 convolution backward against fp32 from the same bf16-rounded tensors, 2D and 3D,
    plain and transposed, over small inputs and kernels: prints each wrong configuration."""
    torch.manual_seed(0)
    wrong = 0
    for dims in (2, 3):
        for transposed in (False, True):
            for side in (1, 2, 3, 4, 5, 8):
                for kernel in (1, 2, 3, 5):
                    for pad in sorted({0, kernel // 2}):
                        errors = _backward_errors(dims, transposed, side, kernel, pad)
                        if errors is not None and max(errors) > 0.05:
                            wrong += 1
                            print(f"  WRONG {dims}D{' transposed' if transposed else ''} input "
                                  f"{side}^{dims} kernel {kernel} padding {pad}: relative error "
                                  f"input grad {errors[0]:.1e}, weight grad {errors[1]:.1e}")  # fmt: skip
    print(f"{wrong} wrong configuration(s) (native bf16: {_native_bf16()})")


def _backward_errors(
    dims: int, transposed: bool, side: int, kernel: int, pad: int
) -> tuple[float, float] | None:
    x = torch.randn(4, 16, *(side,) * dims).bfloat16()
    w_shape = (16, 8) if transposed else (8, 16)
    w = torch.randn(*w_shape, *(kernel,) * dims).bfloat16()
    geometry = ([1] * dims, [pad] * dims, [1] * dims, transposed, [0] * dims, 1)
    try:
        y = torch.ops.aten.convolution(x.float(), w.float(), None, *geometry)
    except RuntimeError:  # no valid output for this geometry
        return None
    g = torch.randn_like(y).bfloat16()
    wanted = [True, True, False]
    got = torch.ops.aten.convolution_backward(g, x, w, None, *geometry, wanted)
    ref = torch.ops.aten.convolution_backward(
        g.float(), x.float(), w.float(), None, *geometry, wanted
    )
    errors = []
    for a, r in zip(got[:2], ref[:2], strict=True):
        diff = (a.float() - r).abs().nan_to_num(nan=1e30, posinf=1e30, neginf=1e30)
        errors.append(float(diff.max() / r.abs().max()))
    return errors[0], errors[1]


def _native_bf16() -> bool:
    from clara_cli.engine.amp import cpu_has_native_bf16

    return cpu_has_native_bf16()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-probe", action="store_true",
        help="the network exactly as MONAI builds it (in-place ReLUs), no hooks: does it happen?",
    )  # fmt: skip
    parser.add_argument("--kernels", action="store_true", help="sweep the convolution operator")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    if args.kernels:
        kernel_sweep()
        return

    if args.no_probe:
        results = _train(_network(args.seed, False), args.steps, args.size, args.batch, 0, None)
        print(f"AHNet bf16 unprobed, {args.size}^3 x {args.batch}: gradients finite per step "
              f"{[finite for _, finite, _ in results]}")  # fmt: skip
        return
    net = _network(args.seed)
    probe = LayerProbe(net)
    start = time.perf_counter()
    results = _train(net, args.steps, args.size, args.batch, 0, probe)
    print(f"AHNet bf16, {args.size}^3 x {args.batch}, {args.steps} steps "
          f"({time.perf_counter() - start:.0f} s)")  # fmt: skip
    kinds: collections.Counter[str] = collections.Counter()
    for step, (loss, finite, culprit) in enumerate(results, 1):
        where = ""
        if culprit:
            module = probe.modules[culprit]
            record = probe.records[culprit]
            kinds[type(module).__name__] += 1
            where = (
                f"  first non-finite at {culprit} ({type(module).__name__}"
                f"{tuple(getattr(module, 'kernel_size', ()))}; forward output finite "
                f"{record.get('out_finite')}, max |out| {record.get('out_max', float('nan')):.3g}, "
                f"max |grad at its output| {record.get('grad_out_max', float('nan')):.3g})"
            )
        print(f"  step {step}: loss {loss:.4f} gradients {'finite' if finite else 'NON-FINITE'}"
              f"{where}")  # fmt: skip
    for handle in probe.handles:
        handle.remove()
    if not kinds:
        print("every bf16 step had finite gradients at this size")
        return
    kind_name = kinds.most_common(1)[0][0]
    kind = next(type(m) for m in net.modules() if type(m).__name__ == kind_name)
    fixed = _network(args.seed)
    count = _islands(fixed, kind)
    results = _train(fixed, args.steps, args.size, args.batch, args.seed, None)
    good = sum(finite for _, finite, _ in results)
    print(f"with every {kind_name} ({count} modules) in fp32, the rest bf16: "
          f"{good} of {len(results)} steps with finite gradients")  # fmt: skip
    from clara_cli.engine.bf16_conv_guard import guard_tiny_conv3d

    guarded = _network(args.seed)
    count = guard_tiny_conv3d(guarded)
    results = _train(guarded, args.steps, args.size, args.batch, args.seed, None)
    good = sum(finite for _, finite, _ in results)
    print(f"with clara's guard (3D convolutions of inputs no larger than their kernel in fp32, "
          f"{count} layers watched): {good} of {len(results)} steps with finite gradients")  # fmt: skip


if __name__ == "__main__":
    main()
