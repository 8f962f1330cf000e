"""DDP on CPU: 1 vs 2 processes on the same global batch, and the cost of the DDP wrapper.

Trains a 3D MONAI UNet on random volumes (no data pipeline: only compute and communication)
and prints iterations per second for:

- one process with 1 thread and with every thread (the global batch in one step),
- 2 processes x (threads / 2) on gloo, each with half the global batch (``launch``, as
  ``clara train --device cpu --nproc 2`` does),
- one process, every thread, the network plain and wrapped in DistributedDataParallel in a
  1-process gloo group (steps interleaved so that clock drift hits both alike).

Scaling efficiency = (2-process it/s) / (2 x 1-thread it/s): 1.0 means two workers do twice
the work of one. On a 2-core machine both setups share the same two cores, so the figure to
compare with is the all-threads single process. These are figures to watch, not a test.

Usage::

    .venv/bin/python benchmarks/bench_ddp.py                       # ~2 min on 2 cores
    .venv/bin/python benchmarks/bench_ddp.py --size 64 --global-batch 4 --steps 10
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import torch
from _common import tutorial_unet


def _batch(batch: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(batch, 1, size, size, size, generator=generator)
    label = (torch.rand(batch, 1, size, size, size, generator=generator) > 0.7).float()
    return image, label


class _Trainer:
    def __init__(self, net: torch.nn.Module, batch: int, size: int, seed: int) -> None:
        from monai.losses import DiceCELoss

        self.net = net
        self.optimizer = torch.optim.Adam(net.parameters(), 1e-3)
        self.loss = DiceCELoss(to_onehot_y=True, softmax=True)
        self.image, self.label = _batch(batch, size, seed)

    def step(self) -> float:
        start = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        self.loss(self.net(self.image), self.label).backward()
        self.optimizer.step()
        return time.perf_counter() - start


def _median_step(trainers: list[_Trainer], steps: int, warmup: int) -> list[float]:
    """Median seconds per step of each trainer, their steps interleaved."""
    times: list[list[float]] = [[] for _ in trainers]
    for i in range(warmup + steps):
        for t, trainer in enumerate(trainers):
            elapsed = trainer.step()
            if i >= warmup:
                times[t].append(elapsed)
    return [statistics.median(t) for t in times]


def ddp_worker(global_batch: int, size: int, steps: int, warmup: int) -> float:
    """One rank of the 2-process run: seconds per step (the slowest rank's median)."""
    from clara_cli.allocator import keep_freed_memory
    from clara_cli.launch.process_group import all_gather_objects, init_distributed, shutdown

    keep_freed_memory()
    ctx = init_distributed("cpu")
    try:
        torch.manual_seed(0)  # same initial weights on every rank (DDP broadcasts anyway)
        net = torch.nn.parallel.DistributedDataParallel(tutorial_unet())
        trainer = _Trainer(net, global_batch // ctx.world_size, size, seed=ctx.rank)
        torch.distributed.barrier()
        median = _median_step([trainer], steps, warmup)[0]
        return max(all_gather_objects(ctx, median))
    finally:
        shutdown(ctx)


def _single_process(global_batch: int, size: int, steps: int, warmup: int) -> float:
    torch.manual_seed(0)
    return _median_step([_Trainer(tutorial_unet(), global_batch, size, seed=0)], steps, warmup)[0]


def _ddp_overhead(global_batch: int, size: int, steps: int, warmup: int) -> tuple[float, float]:
    import torch.distributed as dist

    from clara_cli.launch.spawn import _free_port

    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1
    )
    try:
        torch.manual_seed(0)
        plain = _Trainer(tutorial_unet(), global_batch, size, seed=0)
        torch.manual_seed(0)
        wrapped = _Trainer(
            torch.nn.parallel.DistributedDataParallel(tutorial_unet()), global_batch, size, seed=0
        )
        plain_s, ddp_s = _median_step([plain, wrapped], steps, warmup)
    finally:
        dist.destroy_process_group()
    return plain_s, ddp_s


def _child(args: argparse.Namespace) -> None:
    from clara_cli.allocator import keep_freed_memory

    keep_freed_memory()  # as every clara run does
    workload = (args.global_batch, args.size, args.steps, args.warmup)
    if args.child == "overhead":
        print(json.dumps(_ddp_overhead(*workload)))
    else:
        print(json.dumps(_single_process(*workload)))


def _in_fresh_process(args: argparse.Namespace, child: str, threads: int) -> Any:
    # A fresh interpreter per setup: changing torch's thread count inside one process left
    # oneDNN/OpenMP measurably slower than starting with that count.
    command = [
        sys.executable,
        __file__,
        "--child",
        child,
        "--size",
        str(args.size),
        "--global-batch",
        str(args.global_batch),
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(
        command, env=env, capture_output=True, encoding="utf-8", errors="replace", check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=48, help="cube edge in voxels")
    parser.add_argument("--global-batch", type=int, default=4, help="volumes per step, all ranks")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per setup")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--child", choices=["single", "overhead"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.global_batch % 2:
        parser.error("--global-batch must be even (it is split over 2 processes)")
    if args.child:
        _child(args)
        return

    from clara_cli.launch.spawn import LaunchSpec, launch

    cores = os.cpu_count() or 1
    shape = f"UNet 16-128 (2 res units), global batch {args.global_batch}x1x{args.size}^3"
    print(f"torch {torch.__version__}, {cores} cores; {shape}; medians of {args.steps} steps")
    workload = (args.global_batch, args.size, args.steps, args.warmup)

    one_thread = _in_fresh_process(args, "single", threads=1)
    all_threads = _in_fresh_process(args, "single", threads=cores)
    two_proc = launch(LaunchSpec(nproc_per_node=2, device="cpu"), ddp_worker, *workload)[0]
    plain, wrapped = _in_fresh_process(args, "overhead", threads=cores)

    rate = {k: 1 / v for k, v in [("1x1", one_thread), ("1xN", all_threads), ("2", two_proc)]}
    print(f"1 process x 1 thread:            {rate['1x1']:.3f} it/s ({one_thread:.3f} s/it)")
    print(f"1 process x {cores} threads:           {rate['1xN']:.3f} it/s ({all_threads:.3f} s/it)")
    print(
        f"2 processes x {max(1, cores // 2)} thread(s), DDP:   {rate['2']:.3f} it/s ({two_proc:.3f} s/it)"
    )
    print(
        f"scaling efficiency (2 proc vs 2 x one 1-thread process): {rate['2'] / (2 * rate['1x1']):.2f}"
    )
    print(f"2 processes vs one {cores}-thread process: {rate['2'] / rate['1xN']:.2f}x")
    print(
        f"DDP wrapper in one process ({cores} threads): plain {plain:.3f} s/it, "
        f"DDP {wrapped:.3f} s/it, overhead {100 * (wrapped / plain - 1):+.1f} %"
    )


if __name__ == "__main__":
    main()
