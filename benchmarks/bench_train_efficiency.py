"""How close a training step gets to the machine's limit: effective GFLOP/s of one step
(forward, Dice loss, backward, Adam) divided by the fp32 matmul peak measured in the same run.

FLOPs are counted once per network with `torch.utils.flop_counter.FlopCounterMode` (matmuls and
convolutions, forward and backward); the peak is the best of a few 2048^2 fp32 matmuls. Variants
per network: fp32, fp32 + channels_last_3d (network and batch), bf16 autocast (+ channels_last)
where the CPU has native bf16 (or with --bf16), and with --compile the same under
`torch.compile`, whose compile time is reported separately. `clara train` runs these same
steps through MONAI's trainer (about 1.02x a plain loop: benchmarks/bench_train.py), so the
ratios here are what an iteration of `clara train` reaches.

    .venv/bin/python benchmarks/bench_train_efficiency.py [--size 96] [--steps 3] [--compile]

Figures from a machine shared with other jobs are indicative; compare ratios within one run.

Measured 2026-12-01, quiet 2-vCPU AVX2 machine without native bf16 (fp32 matmul peak 133
GFLOP/s), batch 1, 96^3: UNet 30.5 GFLOP/step, 0.98 s (0.23 of peak), channels_last 1.01 s
(0.23), compile 0.92 s (0.24; 50 s to compile), channels_last + compile 0.93 s; AHNet 141.8
GFLOP/step, 3.47 s (0.31), channels_last 3.61 s (0.29). On this CPU channels_last does not pay
in fp32 and compile gains ~9 %; the issue's 0.65/0.8 goals assume native bf16 (Zen 4).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable

import torch
from _common import spleen_ahnet


def _networks() -> dict[str, Callable[[], torch.nn.Module]]:
    from monai.networks.nets import UNet

    return {
        # The Clara 4.1 spleen config's UNet (16-256, 2 residual units).
        "unet": lambda: UNet(3, 1, 2, (16, 32, 64, 128, 256), (2, 2, 2, 2), num_res_units=2),
        # The spleen MMAR's AHNet.
        "ahnet": spleen_ahnet,
    }


def matmul_peak_gflops(size: int = 2048, repeats: int = 5) -> float:
    """Best fp32 matmul throughput of this process, GFLOP/s."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def _step_fn(net, optimizer, loss_fn, bf16: bool) -> Callable[[torch.Tensor, torch.Tensor], None]:
    def step(image: torch.Tensor, label: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with autocast:
            out = net(image)
        loss_fn(out.float(), label).backward()
        optimizer.step()

    return step


def step_flops(make_net: Callable[[], torch.nn.Module], shape: tuple[int, ...]) -> int:
    """FLOPs of one fp32 training step (forward + backward)."""
    from monai.losses import DiceLoss
    from torch.utils.flop_counter import FlopCounterMode

    net = make_net()
    image = torch.randn(shape)
    label = (torch.rand(shape) > 0.5).float()
    with FlopCounterMode(display=False) as counter:
        DiceLoss(to_onehot_y=True, softmax=True)(net(image), label).backward()
    return counter.get_total_flops()


def time_variant(
    make_net: Callable[[], torch.nn.Module],
    shape: tuple[int, ...],
    steps: int,
    *,
    channels_last: bool,
    bf16: bool,
    compile_: bool,
) -> tuple[float, float]:
    """(median seconds per step, seconds spent before the first step finished: compile)."""
    from monai.losses import DiceLoss

    torch.manual_seed(0)
    net = make_net()
    image = torch.randn(shape)
    label = (torch.rand(shape) > 0.5).float()
    if channels_last:
        net = net.to(memory_format=torch.channels_last_3d)
        image = image.contiguous(memory_format=torch.channels_last_3d)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    model = torch.compile(net) if compile_ else net
    step = _step_fn(model, optimizer, DiceLoss(to_onehot_y=True, softmax=True), bf16)
    start = time.perf_counter()
    step(image, label)  # warm-up (and compilation)
    first = time.perf_counter() - start
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step(image, label)
        times.append(time.perf_counter() - start)
    return statistics.median(times), first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=96, help="Patch edge (AHNet: multiple of 32)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3, help="Timed steps per variant")
    parser.add_argument("--only", nargs="*", help="Networks to run (default: unet ahnet)")
    parser.add_argument("--bf16", action="store_true", help="Measure bf16 even if emulated")
    parser.add_argument("--compile", action="store_true", help="Add torch.compile variants")
    args = parser.parse_args()

    from clara_cli.allocator import keep_freed_memory
    from clara_cli.engine.amp import cpu_has_native_bf16

    keep_freed_memory()  # as clara runs
    native = cpu_has_native_bf16()
    peak = matmul_peak_gflops()
    shape = (args.batch, 1, args.size, args.size, args.size)
    print(f"{torch.get_num_threads()} thread(s); fp32 matmul peak {peak:.1f} GFLOP/s; "
          f"native bf16: {native}; input {shape}")  # fmt: skip
    variants = [("fp32", False, False), ("fp32+cl", True, False)]
    if native or args.bf16:
        variants += [("bf16", False, True), ("bf16+cl", True, True)]
    print(f"{'network':<8} {'variant':<16} {'GFLOP/step':>10} {'s/step':>8} {'GFLOP/s':>8} "
          f"{'of peak':>7} {'compile s':>9}")  # fmt: skip
    networks = _networks()
    for name in args.only or list(networks):
        flops = step_flops(networks[name], shape)
        for compile_ in (False, True) if args.compile else (False,):
            for label, channels_last, bf16 in variants:
                seconds, first = time_variant(
                    networks[name], shape, args.steps,
                    channels_last=channels_last, bf16=bf16, compile_=compile_,
                )  # fmt: skip
                rate = flops / seconds / 1e9
                tag = label + ("+compile" if compile_ else "")
                compiled = f"{first - seconds:9.1f}" if compile_ else f"{'':>9}"
                print(f"{name:<8} {tag:<16} {flops / 1e9:10.1f} {seconds:8.2f} {rate:8.1f} "
                      f"{rate / peak:7.2f} {compiled}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
