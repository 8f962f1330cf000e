"""Batch-1 3D networks on the CPU: PyTorch's own kernel choice against clara's oneDNN routing.

PyTorch runs a batch-1 fp32 3x3x3 convolution with few channels through its native
`slow_conv3d`; clara routes such calls to oneDNN (`clara_cli/engine/onednn_conv.py`, on by
default on CPUs, `--set onednn_conv3d=false` turns it off). For each network this times a
training step (forward, DiceLoss, backward, Adam) at batch 1, and an inference forward of
one window under `torch.inference_mode()`, the two variants alternating so that load from
other processes hits both alike. Prints median wall seconds and process CPU seconds and the
ratio routed / PyTorch (below 1: the routing is faster), and the largest output difference.

    .venv/bin/python benchmarks/bench_conv_batch1.py [--size 96] [--steps 4] [--only unet]

Measured once on 2 cores (AVX2, no native bf16) with a test run at low priority beside it
(indicative; ratios from the same run), untrained networks:

    UNet 96^3   train step 1.68 -> 1.26 s (0.75x), inference 0.43 -> 0.18 s (0.41x)
    AHNet 64^3  train step 1.36 -> 1.21 s (0.89x), inference 0.40 -> 0.35 s (0.88x)

Outputs agree to fp32 rounding (UNet: largest difference 1e-5).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import torch
from _common import spleen_ahnet, tutorial_unet

from clara_cli.engine.onednn_conv import route_batch1_conv3d

NETS: dict[str, Callable[[], torch.nn.Module]] = {"unet": tutorial_unet, "ahnet": spleen_ahnet}


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def bench(name: str, size: int, steps: int) -> None:
    from monai.losses import DiceLoss

    torch.manual_seed(0)
    base = NETS[name]()
    variants = {"pytorch": base, "routed": copy.deepcopy(base)}
    route_batch1_conv3d(variants["routed"])
    x = torch.randn(1, 1, size, size, size)
    y = (torch.rand(1, 1, size, size, size) > 0.5).float()
    loss = DiceLoss(to_onehot_y=True, softmax=True)
    optimizers = {k: torch.optim.Adam(n.parameters(), 1e-4) for k, n in variants.items()}

    def train_step(key: str) -> None:
        optimizers[key].zero_grad()
        loss(variants[key](x), y).backward()
        optimizers[key].step()

    def infer(key: str) -> None:
        with torch.inference_mode():
            variants[key].eval()(x)
        variants[key].train()

    with torch.inference_mode():
        reference = variants["pytorch"].eval()(x)
        diff = (reference - variants["routed"].eval()(x)).abs().max() / reference.abs().max()
    for net in variants.values():
        net.train()
    for label, fn in (("train step", train_step), ("inference", infer)):
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
        for key in variants:
            fn(key)  # warm-up
        for _ in range(steps):
            for key in variants:
                times[key].append(_timed(lambda key=key, fn=fn: fn(key)))
        wall = {k: statistics.median(t[0] for t in v) for k, v in times.items()}
        cpu = {k: statistics.median(t[1] for t in v) for k, v in times.items()}
        print(
            f"{name} {size}^3 batch 1 {label}: PyTorch {wall['pytorch']:.2f} s "
            f"(CPU {cpu['pytorch']:.2f}), routed {wall['routed']:.2f} s (CPU {cpu['routed']:.2f}); "
            f"ratio {wall['routed'] / wall['pytorch']:.2f} wall, "
            f"{cpu['routed'] / cpu['pytorch']:.2f} CPU",
            flush=True,
        )
    print(f"{name}: largest output difference / largest output {float(diff):.1e}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--only", choices=sorted(NETS))
    args = parser.parse_args()
    for name in [args.only] if args.only else list(NETS):
        bench(name, args.size if name == "unet" else min(args.size, 64), args.steps)


if __name__ == "__main__":
    main()
