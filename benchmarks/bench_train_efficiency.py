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
    .venv/bin/python benchmarks/bench_train_efficiency.py --profile [TOP] [--batch 2] \
        [--threads 1] [--channels-last] [--only unet]

Figures from a machine shared with other jobs are indicative; compare ratios within one run.

Measured 2026-12-01, quiet 2-vCPU AVX2 machine without native bf16 (fp32 matmul peak 133
GFLOP/s), batch 1, 96^3: UNet 30.5 GFLOP/step, 0.98 s (0.23 of peak), channels_last 1.01 s
(0.23), compile 0.92 s (0.24; 50 s to compile), channels_last + compile 0.93 s; AHNet 141.8
GFLOP/step, 3.47 s (0.31), channels_last 3.61 s (0.29). On this CPU channels_last does not pay
in fp32 and compile gains ~9 %; the issue's 0.65/0.8 goals assume native bf16 (Zen 4).

Measured 2026-12-01 on a quiet 2-vCPU Zen 5 *with* native bf16 (AVX512_BF16), batch 1, 96^3,
3 timed steps (two runs; fp32 matmul peak 175 and 196 GFLOP/s in them), share of peak:

    variant              UNet         AHNet
    fp32                 0.28-0.34    0.41-0.43
    fp32+cl              0.28-0.36    0.39-0.42
    bf16                 0.57-0.72    0.66-0.69
    bf16+cl              0.80-0.82    0.85-0.99   (issue 14's goal without compile: 0.65)
    fp32+compile         0.36         0.54        (compile 42 s / 104 s)
    bf16+compile         0.96         0.77
    bf16+cl+compile      0.66         0.98        (goal with compile: 0.8)

bf16 + channels_last reaches the goals without compiling; compile adds nothing reliable on top
of it (UNet bf16+cl+compile measured below bf16+compile once: 3 steps are noisy), so `clara
train` keeps compile opt-in and turns channels-last on under CPU bf16 for these families
(engine/network.py). The AVX2 figures and the profile below are from the machine before.

Why 0.23 (``--profile``: one fp32 step under `torch.profiler`, ops by self CPU time, and the
convolutions' time attributed to the kernel PyTorch chose for their forward). Measured
2026-12-01 on the same machine while other jobs held 1-1.5 of its 2 cores (load 5-6), so one
thread (``--threads 1``) and shares, not seconds; indicative:

    UNet 96^3                       batch 1   batch 2   batch 2 + channels_last_3d
    convolution_backward (self)       64 %      66 %      50 %
    conv forward kernels              19 %      15 %      14 %
    copy_ (layout changes)             1 %       1 %      14 %
    PReLU fwd+bwd                      5 %       5 %       7 %
    instance norm fwd+bwd              3 %       3 %       4 %
    Adam, Dice loss, softmax, fill   < 2 %     < 2 %     < 2 %
    convolutions in all               89 %      87 %      81 %
    convs on PyTorch's slow_conv3d    54 %       0 %       0 %

    AHNet 96^3, batch 1: convolution_backward 54 %, slow_conv3d forward 10 %, oneDNN forward
    7 %, batch norm fwd+bwd 11 %, max-pool 5 %, ReLU 3 %; convolutions 75 %, half of their
    time in convs on slow_conv3d.

1. At batch 1, 15 of the UNet's 23 convolutions (and 100 of AHNet's 128) run PyTorch's native
   `slow_conv3d` (im2col + gemm), not oneDNN: PyTorch sends an fp32 batch-1 convolution with a
   3x3x3 kernel to oneDNN only when N*C*D*H > 20480 (a rule made for 2D), which 2x96^2,
   32x24^2, 64x12^2... are not. clara never trains at batch 1 here (the 4.1 config: 2 x 4
   patches); at batch 2 every 3x3x3 convolution runs oneDNN and a step costs 0.73x the CPU
   time per sample of batch 1 (1.17-1.31 vs 1.61-1.79 CPU s/sample, one thread, process
   time, two repeats each). The batch-1 figures above are thus pessimistic for `clara train`;
   use ``--batch 2``.
2. In oneDNN (ONEDNN_VERBOSE=1, batch 2, AVX2) the forward and backward-data run
   `jit:avx2` kernels, but the backward-weights of every 3D convolution runs
   `x64:gemm:jit` (im2col + gemm): 3.5-4x the forward's time (16->16 at 48^3: 155 / 162 /
   569 ms forward / data / weights). With channels_last_3d the forward and data run
   `brg_conv_*:avx2`, weights still gemm but faster (183 / 266 / 315 ms); per convolution
   0.7-0.9x, and 0.4x for the 2-channel 96^3 convolutions (which run at ~1.5 GFLOP/s in
   plain layout).
3. The profiled step gains little from channels_last_3d because MONAI's default norm,
   `InstanceNorm3d`, returns a contiguous tensor (PyTorch runs it as batch norm on an
   (1, N*C, ...) view): the next convolution converts back, and the added `copy_` time
   (0.08 -> 0.88 s of 6.1 s) eats most of the convolutions' gain (5.32 -> 5.19 s). PReLU
   keeps channels_last; `GroupNorm(C, C)` (the same values as InstanceNorm3d without affine)
   keeps it too. In CPU time (batch 2, one thread, 5-9 interleaved repeats, +-15 % spread)
   the medians were: plain 1.20 s/sample, channels_last_3d 1.05 (0.87x), GroupNorm 1.09,
   channels_last_3d + GroupNorm 1.03: the spreads overlap, so no clear win over
   channels_last alone, which `clara train` already offers as ``--set channels_last=true``.
4. What else was measured (CPU time per sample, batch 2, one thread, two repeats): Adam
   `fused=True` 5-7 ms per step instead of 16-23 ms (~1 % of a 2.4 s step; `foreach=True` no
   gain). Norm, PReLU, loss, zeroing the gradients (`fill_`, <= 1 %) and Adam are 11-13 % of
   the step together and at most 5 % each, so settings for them stay below the repeated 5 %
   `clara train` requires before turning one on. None was turned on: the time is in the
   convolutions' kernels (item 2), which only native bf16 or a better oneDNN build change.
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


def _inputs(
    make_net: Callable[[], torch.nn.Module], shape: tuple[int, ...], channels_last: bool
) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """A seeded network with a random image and label of `shape`, channels-last if asked."""
    torch.manual_seed(0)
    net = make_net()
    image = torch.randn(shape)
    label = (torch.rand(shape) > 0.5).float()
    if channels_last:
        net = net.to(memory_format=torch.channels_last_3d)
        image = image.contiguous(memory_format=torch.channels_last_3d)
    return net, image, label


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


def _conv_backends(events) -> dict[tuple, str]:
    """(input shape, weight shape) -> the kernel PyTorch chose for that convolution's forward."""
    backends = {}
    for event in events:
        if event.name == "aten::convolution" and len(event.input_shapes) >= 2:
            inner = [c.name for c in event.cpu_children]
            while inner == ["aten::_convolution"]:  # descend the dispatcher's layers
                event = event.cpu_children[0]
                inner = [c.name for c in event.cpu_children]
            # No kernel op below _convolution: oneDNN called inline (transposed convolutions).
            kernel = next((n for n in inner if "conv" in n), "onednn_inline").removeprefix("aten::")
            backends[(tuple(event.input_shapes[0]), tuple(event.input_shapes[1]))] = kernel
    return backends


def profile_step(
    make_net: Callable[[], torch.nn.Module],
    shape: tuple[int, ...],
    peak: float,
    top: int,
    channels_last: bool = False,
) -> None:
    """Print one fp32 step's ops by self CPU time, and the convolutions' GFLOP/s per kernel."""
    from monai.losses import DiceLoss
    from torch.profiler import ProfilerActivity, profile
    from torch.utils.flop_counter import FlopCounterMode

    net, image, label = _inputs(make_net, shape, channels_last)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    step = _step_fn(net, optimizer, DiceLoss(to_onehot_y=True, softmax=True), False)
    step(image, label)  # warm-up
    with FlopCounterMode(display=False) as counter:
        step(image, label)
    flops = {str(op): n for op, n in counter.get_flop_counts()["Global"].items()}
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        step(image, label)
    averages = prof.key_averages()
    total = sum(a.self_cpu_time_total for a in averages)
    print(f"{'op (self CPU time)':<44} {'s':>7} {'share':>6} {'calls':>5}")
    for avg in sorted(averages, key=lambda a: -a.self_cpu_time_total)[:top]:
        seconds = avg.self_cpu_time_total / 1e6
        print(f"{avg.key[:44]:<44} {seconds:7.2f} {avg.self_cpu_time_total / total:6.1%} "
              f"{avg.count:5d}")  # fmt: skip
    # Forward and backward of each convolution, attributed to the forward's kernel.
    backends = _conv_backends(prof.events())
    per_kernel: dict[str, float] = {}
    for event in prof.events():
        if event.name == "aten::convolution":
            key = (tuple(event.input_shapes[0]), tuple(event.input_shapes[1]))
        elif event.name == "aten::convolution_backward" and len(event.input_shapes) >= 3:
            key = (tuple(event.input_shapes[1]), tuple(event.input_shapes[2]))
        else:
            continue
        kernel = backends.get(key, "?")
        per_kernel[kernel] = per_kernel.get(kernel, 0.0) + event.cpu_time_total / 1e6
    conv_s = sum(per_kernel.values())
    print(f"step {total / 1e6:.2f} s profiled; convolutions {conv_s:.2f} s ({conv_s * 1e6 / total:.0%})"
          f", by the forward's kernel: "
          + ", ".join(f"{k} {s:.2f} s" for k, s in sorted(per_kernel.items())))  # fmt: skip
    for op, name in (("aten.convolution", "aten::convolution"),
                     ("aten.convolution_backward", "aten::convolution_backward")):  # fmt: skip
        seconds = sum(a.cpu_time_total for a in averages if a.key == name) / 1e6
        if seconds and op in flops:
            rate = flops[op] / seconds / 1e9
            print(f"{name:<28} {flops[op] / 1e9:6.1f} GFLOP {seconds:6.2f} s "
                  f"{rate:6.1f} GFLOP/s = {rate / peak:.2f} of peak")  # fmt: skip


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

    net, image, label = _inputs(make_net, shape, channels_last)
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
    parser.add_argument(
        "--channels-last", action="store_true", help="With --profile: channels_last_3d"
    )
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    parser.add_argument(
        "--profile", type=int, nargs="?", const=15, metavar="TOP",
        help="Instead of the variants: profile one fp32 step, print the TOP ops (default 15)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from clara_cli.allocator import keep_freed_memory
    from clara_cli.engine.amp import cpu_has_native_bf16

    keep_freed_memory()  # as clara runs
    native = cpu_has_native_bf16()
    peak = matmul_peak_gflops()
    shape = (args.batch, 1, args.size, args.size, args.size)
    print(f"{torch.get_num_threads()} thread(s); fp32 matmul peak {peak:.1f} GFLOP/s; "
          f"native bf16: {native}; input {shape}")  # fmt: skip
    networks = _networks()
    if args.profile:
        for name in args.only or list(networks):
            print(f"== {name}")
            profile_step(networks[name], shape, peak, args.profile, args.channels_last)
        return
    variants = [("fp32", False, False), ("fp32+cl", True, False)]
    if native or args.bf16:
        variants += [("bf16", False, True), ("bf16+cl", True, True)]
    print(f"{'network':<8} {'variant':<16} {'GFLOP/step':>10} {'s/step':>8} {'GFLOP/s':>8} "
          f"{'of peak':>7} {'compile s':>9}")  # fmt: skip
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
