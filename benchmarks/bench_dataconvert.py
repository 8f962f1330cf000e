"""Volumes per second of `clara dataconvert -r 1` (-j 1, -j 2) against a plain SimpleITK loop.

The inputs are phantom CTs (`clara synth spleen`, 256 x 256 in-plane, 0.7-0.9 x 2.5-5 mm), each
resampled to 1 mm (about 210 x 210 x 110 voxels out) and written as .nii.gz. Every variant runs
in this process over the same files, in rounds, and the best round of each is reported.

- plain loop: ReadImage -> Resample (the same grid, linear in float, rounded to int16) ->
  WriteImage, with nothing else (no discovery, checks, atomic rename or report);
- plain minimal: the same with SimpleITK resampling straight to int16 (truncating), for scale;
- plain 1 thread: the plain loop with SimpleITK limited to one thread, to show how much of the
  machine -j 1 already uses;
- clara -j 1 / -j 2: the command through click's CliRunner (spawned workers for -j 2, their
  start-up included).

Goals (issue 4): -j 1 within 1.1x of the plain loop; -j 2 at least 1.7x faster than -j 1.

Usage: python benchmarks/bench_dataconvert.py [--cases 16] [--size 256] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def make_inputs(folder: Path, cases: int, size: int) -> list[Path]:
    import SimpleITK as sitk

    from clara_cli.data.synth import PhantomOptions, make_spleen_phantom

    folder.mkdir(parents=True)
    paths = []
    for index in range(cases):
        image, _ = make_spleen_phantom((7, index), PhantomOptions(in_plane_size=size))
        path = folder / f"case_{index:03d}.nii.gz"
        sitk.WriteImage(image, str(path), True)
        paths.append(path)
    return paths


def plain_loop(paths: list[Path], output: Path, round_values: bool) -> None:
    import numpy as np
    import SimpleITK as sitk

    output.mkdir(parents=True)
    for path in paths:
        image = sitk.ReadImage(str(path))
        spacing_in = np.array(image.GetSpacing())
        size = [int(round(n)) for n in np.array(image.GetSize()) * spacing_in]
        direction = np.array(image.GetDirection()).reshape(3, 3)
        origin = np.array(image.GetOrigin()) + direction @ ((1.0 - spacing_in) / 2)
        pixel = sitk.sitkFloat32 if round_values else image.GetPixelID()
        resampled = sitk.Resample(
            image,
            size,
            sitk.Transform(),
            sitk.sitkLinear,
            origin.tolist(),
            [1.0, 1.0, 1.0],
            image.GetDirection(),
            -1024.0,
            pixel,
            True,
        )
        if round_values:
            values = np.clip(np.rint(sitk.GetArrayViewFromImage(resampled)), -32768, 32767)
            rounded = sitk.GetImageFromArray(values.astype(np.int16))
            rounded.CopyInformation(resampled)
            resampled = rounded
        sitk.WriteImage(resampled, str(output / path.name), True)


def single_threaded(loop: Callable[..., None], paths: list[Path], output: Path) -> None:
    import SimpleITK as sitk

    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        loop(paths, output, round_values=True)
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)


def clara(source: Path, output: Path, workers: int) -> None:
    from click.testing import CliRunner

    from clara_cli.cli.main import cli

    args = ["dataconvert", "-d", str(source), "-o", str(output), "-r", "1", "-j", str(workers)]
    result = CliRunner().invoke(cli, args)
    if result.exit_code != 0:
        raise SystemExit(f"clara dataconvert failed:\n{result.output}")


def timed(run: Callable[[Path], None], output: Path) -> float:
    if output.exists():
        shutil.rmtree(output)
    started = time.perf_counter()
    run(output)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=16)
    parser.add_argument("--size", type=int, default=256, help="in-plane voxels of the inputs")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    import SimpleITK as sitk

    work = Path(tempfile.mkdtemp(prefix="bench_dataconvert_"))
    try:
        paths = make_inputs(work / "src", args.cases, args.size)
        example = sitk.ReadImage(str(paths[0]))
        print(
            f"{args.cases} phantom CTs, e.g. {example.GetSize()} at "
            f"{tuple(round(s, 2) for s in example.GetSpacing())} mm -> 1 mm; "
            f"SimpleITK threads: {sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()}"
        )
        variants: dict[str, Callable[[Path], None]] = {
            "plain loop": lambda out: plain_loop(paths, out, round_values=True),
            "plain minimal": lambda out: plain_loop(paths, out, round_values=False),
            "plain 1 thread": lambda out: single_threaded(plain_loop, paths, out),
            "clara -j 1": lambda out: clara(work / "src", out, 1),
            "clara -j 2": lambda out: clara(work / "src", out, 2),
        }
        best = {name: float("inf") for name in variants}
        for _ in range(args.rounds):
            for name, run in variants.items():
                best[name] = min(best[name], timed(run, work / "out"))
        print(f"{'variant':<14} {'seconds':>8} {'vol/s':>7}")
        for name, seconds in best.items():
            print(f"{name:<14} {seconds:8.2f} {args.cases / seconds:7.2f}")
        load = os.getloadavg()[0]
        if load > (os.cpu_count() or 1) - 0.5:
            print(f"warning: load average {load:.1f} on {os.cpu_count()} cores: other work ran too")
        overhead = best["clara -j 1"] / best["plain loop"]
        speedup = best["clara -j 1"] / best["clara -j 2"]
        print(f"-j 1 / plain loop: {overhead:.2f}x (goal <= 1.10)")
        print(f"-j 2 speed-up over -j 1: {speedup:.2f}x (goal >= 1.70)")
        threading = best["plain 1 thread"] / best["plain loop"]
        print(f"SimpleITK's own threads already speed the plain loop up {threading:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
