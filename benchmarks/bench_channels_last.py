"""Training step on CPU with the default memory format against channels-last (network and
batch), per network family, in fp32 and under bf16 autocast, in one run.

For each network (MONAI UNet, SegResNet, AHNet, BasicUNet, and segmentation_models_pytorch's 2D
Unet), the two formats alternate step by step so that load from other processes hits both
alike. Prints the median seconds per step (forward, loss, backward, optimizer step) and the
ratio default / channels-last: above 1 means channels-last is faster. bf16 is measured only
where the CPU has native bf16 (emulated bf16 is slower than fp32, and clara does not use it);
--bf16 forces it. Figures from a shared machine are indicative: compare ratios, not seconds.

    .venv/bin/python benchmarks/bench_channels_last.py [--size 48] [--steps 3] [--only unet]

Measured once (2 cores without native bf16, shared with other jobs: indicative), fp32, batch 2,
48^3 (AHNet 64^3, 2D 192^2): UNet 1.12x and 1.43x (two runs), SegResNet 1.28x, AHNet 1.29x,
BasicUNet 1.00x, smp Unet 2D 0.78x (1.20x at 128^2, batch 1); emulated bf16 UNet 0.96x.
Measured 2026-12-01 on a quiet 2-vCPU Zen 5 with native bf16, batch 2, 48^3 (AHNet 64^3, 2D
192^2), 5 steps, default / channels-last, bf16 (fp32): UNet 1.12-1.17x (0.95-1.09x), SegResNet
0.72-0.82x (1.04-1.09x), AHNet 1.19x (1.30x), BasicUNet 0.80x (0.85x), smp Unet 1.13-1.16x
(1.12-1.17x), FPN 1.01x (1.11x), Linknet 1.16x (1.05x), PSPNet 1.37x (1.26x). Under CPU bf16
`clara train` turns channels-last on by itself for the classes above 1.1x (UNet, AHNet, smp
Unet/Linknet/PSPNet: engine/network.py); `--set channels_last=true|false` decides otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable

import torch
from _common import spleen_ahnet


def _networks(size: int) -> dict[str, tuple[Callable[[], torch.nn.Module], tuple[int, ...]]]:
    """name -> (constructor, input shape of one sample without batch)."""
    from monai.networks.nets import BasicUNet, SegResNet, UNet

    ahnet_size = max(64, size // 32 * 32)  # AHNet wants multiples of 32, at least 64
    return {
        "unet": (
            lambda: UNet(3, 1, 2, (16, 32, 64, 128, 256), (2, 2, 2, 2), num_res_units=2),
            (1, size, size, size),
        ),
        "segresnet": (lambda: SegResNet(3, 16, 1, 2), (1, size, size, size)),
        "ahnet": (
            spleen_ahnet,
            (1, ahnet_size, ahnet_size, ahnet_size),
        ),
        "basicunet": (lambda: BasicUNet(3, 1, 2), (1, size, size, size)),
        "smp-unet-2d": (lambda: _smp("Unet"), (1, size * 4, size * 4)),
        "smp-fpn-2d": (lambda: _smp("FPN"), (1, size * 4, size * 4)),
        "smp-linknet-2d": (lambda: _smp("Linknet"), (1, size * 4, size * 4)),
        "smp-pspnet-2d": (lambda: _smp("PSPNet"), (1, size * 4, size * 4)),
    }


def _smp(architecture: str) -> torch.nn.Module:
    import segmentation_models_pytorch as smp

    model = getattr(smp, architecture)
    return model("resnet18", encoder_weights=None, in_channels=1, classes=2)


def _format(dim: int) -> torch.memory_format:
    return torch.channels_last_3d if dim == 5 else torch.channels_last


def _step_fn(
    build: Callable[[], torch.nn.Module], shape: tuple[int, ...], batch: int, cl: bool, bf16: bool
) -> Callable[[], None]:
    torch.manual_seed(0)
    net = build().train()
    x = torch.rand(batch, *shape)
    y = (x > 0.5).long()[:, 0]
    if cl:
        net = net.to(memory_format=_format(x.dim()))
        x = x.contiguous(memory_format=_format(x.dim()))
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with ctx:
            loss = loss_fn(net(x).float(), y)
        loss.backward()
        optimizer.step()

    return step


def measure(name: str, size: int, batch: int, steps: int, bf16: bool) -> tuple[float, float]:
    """Median seconds per step with the default format and with channels-last."""
    build, shape = _networks(size)[name]
    runs = {cl: _step_fn(build, shape, batch, cl, bf16) for cl in (False, True)}
    times: dict[bool, list[float]] = {False: [], True: []}
    for cl in (False, True):
        runs[cl]()  # warm-up: oneDNN primitive creation, first allocations
    for _ in range(steps):
        for cl in (False, True):
            start = time.perf_counter()
            runs[cl]()
            times[cl].append(time.perf_counter() - start)
    return statistics.median(times[False]), statistics.median(times[True])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=48, help="3D patch edge (2D: 4x this).")
    parser.add_argument("--batch", type=int, default=2, help="Samples per step.")
    parser.add_argument("--steps", type=int, default=3, help="Timed steps per format.")
    parser.add_argument("--only", nargs="*", help="Network names to run (default: all).")
    parser.add_argument("--bf16", action="store_true", help="Measure bf16 even if emulated.")
    args = parser.parse_args()

    from clara_cli.allocator import keep_freed_memory
    from clara_cli.engine.amp import cpu_has_native_bf16

    keep_freed_memory()  # as clara runs
    precisions = [False] + ([True] if args.bf16 or cpu_has_native_bf16() else [])
    names = args.only or list(_networks(args.size))
    print(
        f"{torch.get_num_threads()} thread(s), size {args.size}, batch {args.batch}, "
        f"{args.steps} step(s); native bf16: {cpu_has_native_bf16()}"
    )
    print(f"{'network':<13} {'precision':<9} {'default s':>9} {'chlast s':>9}  ratio")
    for name in names:
        for bf16 in precisions:
            default, channels_last = measure(name, args.size, args.batch, args.steps, bf16)
            print(
                f"{name:<13} {'bf16' if bf16 else 'fp32':<9} {default:9.3f} {channels_last:9.3f}"
                f"  {default / channels_last:5.2f}x",
                flush=True,
            )
    print("(ratio = default / channels-last: above 1 means channels-last is faster)")


if __name__ == "__main__":
    main()
