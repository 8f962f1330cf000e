"""SegTHOR speed on this CPU: 2D Unet training (slices/s) and slice-wise inference (volumes/s)
for resnet34 and resnet50 encoders, fp32 against bf16 autocast, measured in the same run;
and the two ways to feed training slices (on the fly from cached 3D volumes, or from
`clara prepare-dataset --slices` files).

Compute: random-init smp Unet, DiceCE loss, Adam, batches of `--batch` slices of
`--size` x `--size`; each mode is timed `--steps` times after one warm-up step, the modes
interleaved so clock drift hits both alike; the median is reported. Inference runs
:class:`~clara_cli.families.slice2d.inference.SliceWiseInferer` over a (1, 1, size, size,
depth) volume under `torch.inference_mode` (the engine wraps the network the same way for
bf16). Ratios are bf16 speed / fp32 speed (above 1: bf16 faster). On a CPU without native
bf16 (no AVX512_BF16/AMX) autocast is emulated; clara then trains in fp32 anyway.

Data: `--data-cases` thorax phantoms; slices/s delivered by a MONAI DataLoader after the
cache is built (cache build and slice preparation timed separately), with the archive's
transforms: on the fly = Load, orient, resample, body-centre crop, window (cached) then
RandSlicesd; prepared = 2D slice files, Load, window, centre crop/pad to the same size
(the 3D body-centre crop cannot be applied to files that are already 2D).

Usage::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_segthor.py --batch 8 --depth 32 --steps 2 --no-data
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_segthor.py --no-compute

Emulated bf16 (a CPU without AVX512_BF16/AMX) is 30-50x slower than fp32: the compute part
then takes most of an hour on 2 cores, nearly all of it in the bf16 steps.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch


def _autocast(bf16: bool) -> contextlib.AbstractContextManager[Any]:
    if bf16:
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def bench_compute(encoder: str, args: argparse.Namespace) -> dict[str, float]:
    """Median seconds per training step and per inferred volume, fp32 and bf16."""
    from monai.losses import DiceCELoss

    from clara_cli.families.slice2d.inference import SliceWiseInferer
    from clara_cli.families.slice2d.networks import smp_network

    torch.manual_seed(0)
    net = smp_network("Unet", encoder, in_channels=1, classes=5)
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True, batch=True)
    x = torch.rand(args.batch, 1, args.size, args.size)
    y = torch.randint(0, 5, (args.batch, 1, args.size, args.size))
    volume = torch.rand(1, 1, args.size, args.size, args.depth)
    inferer = SliceWiseInferer(axis=2, sw_batch_size=args.batch)

    def train_step(bf16: bool) -> float:
        start = time.perf_counter()
        optimizer.zero_grad()
        with _autocast(bf16):
            loss = loss_fn(net(x), y)
        loss.backward()
        optimizer.step()
        return time.perf_counter() - start

    def infer_volume(bf16: bool) -> float:
        start = time.perf_counter()
        with torch.inference_mode(), _autocast(bf16):
            out = inferer(volume, net)
        assert torch.isfinite(out).all()
        return time.perf_counter() - start

    times: dict[str, list[float]] = {k: [] for k in ("train32", "train16", "infer32", "infer16")}
    train_modes = [(False, "train32")] + ([(True, "train16")] if args.bf16 != "none" else [])
    infer_modes = [(False, "infer32")] + ([(True, "infer16")] if args.bf16 == "all" else [])
    net.train()
    for bf16, _ in train_modes:
        train_step(bf16)  # warm-up: oneDNN primitives, allocator
    for _ in range(args.steps):
        for bf16, key in train_modes:
            times[key].append(train_step(bf16))
    net.eval()
    for bf16, _ in infer_modes:
        infer_volume(bf16)
    for _ in range(max(1, args.steps // 2)):
        for bf16, key in infer_modes:
            times[key].append(infer_volume(bf16))
    return {k: statistics.median(v) if v else math.nan for k, v in times.items()}


def bench_data(args: argparse.Namespace) -> dict[str, float]:
    """Slices/s of the two training-slice pipelines, plus their one-off costs (s)."""
    from monai.data import CacheDataset, DataLoader
    from monai.transforms import (
        Compose,
        EnsureChannelFirstd,
        EnsureTyped,
        LoadImaged,
        Orientationd,
        ResizeWithPadOrCropd,
        ScaleIntensityRanged,
        Spacingd,
    )

    from clara_cli.data.slices import extract_slices
    from clara_cli.families.segthor.crop import BodyCentreCropd
    from clara_cli.families.segthor.phantom import ThoraxOptions, synthesize_thorax
    from clara_cli.families.slice2d.data import RandSlicesd
    from clara_cli.io.datalist import load_datalist

    keys = ["image", "label"]
    window = ScaleIntensityRanged("image", -160, 240, 0.0, 1.0, clip=True)
    crop = [args.crop, args.crop]
    result: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        options = ThoraxOptions(in_plane_size=args.phantom_size)
        datalist = synthesize_thorax(
            root / "data", args.data_cases, seed=0, options=options, train_fraction=1.0
        )
        volumes = load_datalist(datalist, "training", root / "data")
        on_the_fly = Compose(
            [
                LoadImaged(keys),
                EnsureChannelFirstd(keys),
                Orientationd(keys, "RAS"),
                Spacingd(keys, (args.pixdim, args.pixdim, -1), mode=("bilinear", "nearest")),
                BodyCentreCropd(keys, roi_size=(*crop, -1), pad_value=[-1024, 0]),
                window,
                EnsureTyped(keys, track_meta=False),
                RandSlicesd(keys, num_samples=args.slices_per_volume, empty_fraction=0.1),
            ]
        )
        start = time.perf_counter()
        dataset = CacheDataset(
            volumes, on_the_fly, cache_rate=1.0, num_workers=0, progress=False, copy_cache=False
        )
        result["fly_cache_s"] = time.perf_counter() - start
        result["fly_slices_per_s"] = _slices_per_second(DataLoader(dataset, batch_size=2), args)

        start = time.perf_counter()
        report = extract_slices(root / "data", root / "slices", axis=2, empty_fraction=0.1)
        result["prepare_s"] = time.perf_counter() - start
        result["prepared_slices"] = float(report.slices)
        slices = load_datalist(report.datalist, "training", root / "slices")
        slices += load_datalist(report.datalist, "validation", root / "slices")
        prepared = Compose(
            [
                LoadImaged(keys),
                EnsureChannelFirstd(keys),
                window,
                ResizeWithPadOrCropd(keys, crop),
                EnsureTyped(keys, track_meta=False),
            ]
        )
        start = time.perf_counter()
        cached = CacheDataset(slices, prepared, cache_rate=1.0, num_workers=0, progress=False)
        result["prepared_cache_s"] = time.perf_counter() - start
        loader = DataLoader(cached, batch_size=2 * args.slices_per_volume, shuffle=True)
        result["prepared_cached_slices_per_s"] = _slices_per_second(loader, args)
        from monai.data import Dataset

        loader = DataLoader(Dataset(slices, prepared), batch_size=2 * args.slices_per_volume)
        result["prepared_uncached_slices_per_s"] = _slices_per_second(loader, args)
    return result


def _slices_per_second(loader: Any, args: argparse.Namespace) -> float:
    count, start = 0, time.perf_counter()
    for _ in range(args.data_epochs):
        for batch in loader:
            count += int(batch["image"].shape[0])
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoders", nargs="+", default=["resnet34", "resnet50"])
    parser.add_argument("--batch", type=int, default=16, help="slices per training step")
    parser.add_argument("--size", type=int, default=128, help="slice size (pixels)")
    parser.add_argument("--depth", type=int, default=64, help="slices per inferred volume")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument(
        "--bf16",
        choices=("all", "train", "none"),
        default="all",
        help="which parts also run under bf16 autocast (emulated bf16 is very slow)",
    )
    parser.add_argument("--no-data", action="store_true", help="skip the data-pipeline part")
    parser.add_argument("--no-compute", action="store_true", help="skip the compute part")
    parser.add_argument("--data-cases", type=int, default=6)
    parser.add_argument("--data-epochs", type=int, default=3)
    parser.add_argument("--phantom-size", type=int, default=128)
    parser.add_argument("--pixdim", type=float, default=3.2)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--slices-per-volume", type=int, default=8)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), ", end="")
    print(f"batch {args.batch} x {args.size}^2, volume {args.size}^2 x {args.depth}")
    if not args.no_compute:
        header = "encoder     train fp32  train bf16  ratio | infer fp32  infer bf16  ratio"
        print(header + "\n" + " " * 12 + "slices/s    slices/s          | volumes/s   volumes/s")
        for encoder in args.encoders:
            t = bench_compute(encoder, args)
            s32, s16 = args.batch / t["train32"], args.batch / t["train16"]
            v32, v16 = 1 / t["infer32"], 1 / t["infer16"]
            print(
                f"{encoder:<10} {s32:10.2f} {s16:11.2f} {s16 / s32:6.2f} | "
                f"{v32:10.3f} {v16:11.3f} {v16 / v32:6.2f}",
                flush=True,
            )
    if not args.no_data:
        d = bench_data(args)
        print(
            f"data ({args.data_cases} phantoms, {args.crop}^2 slices): on the fly "
            f"{d['fly_slices_per_s']:.0f} slices/s (cache build {d['fly_cache_s']:.1f} s); "
            f"prepared files {d['prepared_cached_slices_per_s']:.0f} slices/s cached "
            f"(cache build {d['prepared_cache_s']:.1f} s), "
            f"{d['prepared_uncached_slices_per_s']:.0f} slices/s uncached; "
            f"preparing {d['prepared_slices']:.0f} slices took {d['prepare_s']:.1f} s"
        )


if __name__ == "__main__":
    main()
