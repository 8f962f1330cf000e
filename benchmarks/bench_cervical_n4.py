"""N4 bias-field correction: seconds per volume by shrink factor, and its share of a queue.

Part 1, N4 per volume: cervical phantoms (`clara synth cspine`, --size voxels head-feet;
128 gives about 21 x 110 x 128 voxels at 1.1-1.3 mm x 2.8-3.3 mm), corrected with clara's
`n4_correct` (SimpleITK N4 on a copy shrunk by the shrink factor, field evaluated at full
resolution) for each shrink factor. Reported per factor: the best-of-rounds seconds per
volume, and how well the field was found: the correlation of N4's log field with the
phantom's true one inside the body, and the residual (true - found) as a share of the
true field's spread (0 = perfect, 1 = nothing removed).

Part 2, share of a queue: `clara experiments run` (in this process, on the engine) over a
CPU-sized queue of two rows that differ only in `n4` (false, true), on --queue-cases
phantoms at --queue-size; `n4_correct` is timed while the queue runs. Reported: the queue's
seconds, N4's seconds, N4's share of the queue and of the N4 row, and what that means for
the study's grid (half of its 96 runs correct every volume again; `clara dataconvert --n4`
once instead costs one pass over the data).

Usage: python benchmarks/bench_cervical_n4.py [--size 128] [--cases 4] [--rounds 2]
           [--shrink 1 2 4 8] [--queue-size 64] [--queue-cases 8] [--queue-epochs 3]
           [--skip-queue]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any


def n4_per_volume(size: int, cases: int, rounds: int, shrinks: list[int]) -> None:
    import numpy as np
    import SimpleITK as sitk

    from clara_cli.data.n4 import n4_correct
    from clara_cli.families.cervical.phantom import (
        PhantomOptions,
        cspine_volumes,
        make_cspine_phantom,
    )

    options = PhantomOptions(size=size)
    phantoms = [make_cspine_phantom((11, i), options)[0] for i in range(cases)]
    truths = [cspine_volumes((11, i), options) for i in range(cases)]
    shape = phantoms[0].GetSize()
    print(f"N4 on {cases} phantom(s) of about {shape[0]} x {shape[1]} x {shape[2]} voxels")
    print(f"{'shrink':>6}  {'s/volume':>8}  {'field corr.':>11}  {'residual':>8}")
    for shrink in shrinks:
        best = float("inf")
        for _ in range(rounds):
            start = time.perf_counter()
            corrected = [n4_correct(image, shrink_factor=shrink) for image in phantoms]
            best = min(best, (time.perf_counter() - start) / cases)
        correlations, residuals = [], []
        for image, fixed, truth in zip(phantoms, corrected, truths, strict=True):
            body = truth.signal > 100
            found = np.log(
                np.maximum(sitk.GetArrayFromImage(image).astype(float), 1.0)
                / np.maximum(sitk.GetArrayFromImage(fixed).astype(float), 1.0)
            )[body]
            true = np.log(truth.bias)[body]
            found, true = found - found.mean(), true - true.mean()
            correlations.append(np.corrcoef(found, true)[0, 1])
            residuals.append(np.std(true - found) / np.std(true))
        print(
            f"{shrink:>6}  {best:>8.2f}  {np.mean(correlations):>11.3f}  {np.mean(residuals):>8.2f}"
        )


def queue_share(size: int, cases: int, epochs: int) -> None:
    import clara_cli.data.n4 as n4_module
    from clara_cli.families.cervical.phantom import PhantomOptions, synthesize_cspine
    from clara_cli.logs import configure_logging
    from clara_cli.workflows.experiments import QueueOptions, read_queue, run_queue

    configure_logging()
    mmar = Path(__file__).resolve().parents[1] / "mmars" / "cervical_spine_segmentation"
    spent: list[float] = []
    original = n4_module.n4_correct

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - start)

    n4_module.n4_correct = timed  # the transform imports it at call time
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        synthesize_cspine(root / "data", cases, seed=5, options=PhantomOptions(size=size))
        queue_file = root / "queue.csv"
        queue_file.write_text(
            "architecture,encoder,n4,axis\nUnet,random,false,0\nUnet,random,true,0\n"
        )
        options = QueueOptions(
            mmar_root=mmar,
            output_dir=root / "runs",
            device="cpu",
            overrides={
                "DATA_ROOT": str(root / "data"),
                "epochs": epochs,
                "num_interval_per_valid": epochs,
                "pixdim": [2.0, 2.0, 2.0],
                "slice_size": [64, 64],
                "random_encoder": "resnet18",
                "encoder_depth": 3,
                "divisible": 8,
            },
        )
        start = time.perf_counter()
        rows = run_queue(read_queue(queue_file), options)
        total = time.perf_counter() - start
    n4_module.n4_correct = original
    n4_row = rows[1][1].seconds
    n4_seconds = sum(spent)
    print(
        f"\nqueue of 2 rows (n4 false, true; {epochs} epochs, {cases} phantoms at size {size}): "
        f"{total:.0f} s; N4 ran {len(spent)} times, {n4_seconds:.1f} s "
        f"({n4_seconds / max(len(spent), 1):.2f} s per volume)"
    )
    print(
        f"N4 share: {100 * n4_seconds / total:.1f} % of the queue, "
        f"{100 * n4_seconds / n4_row:.1f} % of the N4 row ({n4_row:.0f} s)"
    )
    per_volume = n4_seconds / max(len(spent), 1)
    print(
        f"the study's grid: 48 of its 96 runs correct every volume again ({n4_seconds:.1f} s "
        f"each here: training, in-training validation and the row's validation); one "
        f"`clara dataconvert --n4` pass over the {cases} volumes: {cases * per_volume:.1f} s"
    )
    statuses = [state.status for _, state in rows]
    if statuses != ["done", "done"]:
        raise SystemExit(f"queue rows did not finish: {statuses}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--cases", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--shrink", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--queue-size", type=int, default=64)
    parser.add_argument("--queue-cases", type=int, default=8)
    parser.add_argument("--queue-epochs", type=int, default=3)
    parser.add_argument("--skip-queue", action="store_true")
    args = parser.parse_args()
    n4_per_volume(args.size, args.cases, args.rounds, args.shrink)
    if not args.skip_queue:
        queue_share(args.queue_size, args.queue_cases, args.queue_epochs)


if __name__ == "__main__":
    main()
