"""Share of a `clara train` iteration spent waiting for data, before and after cached crop indices.

Two configs on the same spleen phantom: a Clara 4.1-style UNet config (UNet 16-256 with 2
residual units, `RandCropByPosNegLabeld` without cached indices; the 4.1 fixture of tests/
with that network) and the spleen MMAR (AHNet; it already caches its foreground/background
indices with `FgBgToIndicesd`, so before and after are the same pipeline there). Each runs clara's SupervisedTrainer as `clara train`
builds it, three ways:

- before: the wiring rule `crop_indices.cached` removed (the config as Clara ran it);
- after: clara's wiring as it is (indices computed once and cached with each item);
- after + thread: as after, the DataLoader replaced by MONAI's `ThreadDataLoader`
  (buffer_size 1, repeats 1), so that the random part runs beside the training step.

Data wait is the time between ignite's GET_BATCH_STARTED and GET_BATCH_COMPLETED; the share is
its sum over the sum of whole iterations (the first iteration is a warm-up and not counted).
The patch is 32^3 in a volume about ten times larger after resampling (the real config: 96^3
patches of a ~250x250x150 CT), 8 patches per iteration, fp32.

Measured once on the shared 2-core machine (load average 8-12 from other jobs, so absolute
seconds are noise; 6 iterations): UNet data wait 5.3 % before -> 2.9 % after (13.2 / 13.0
s/it); spleen MMAR 0.6 % -> 0.6 % (the same pipeline), and with the ThreadDataLoader 0.4 % but
2.3x the seconds per iteration (noisy; on 2 cores the thread runs on the cores torch's
intra-op threads use). Not a measured win, so `clara train` does not turn it on. (The UNet's
thread variant did not finish within that run's time limit.)

With ``--real`` the UNet config runs at the real config's sizes instead: 96^3 patches (2 x 4
per iteration) from phantom CTs of 512^2 voxels of ~0.8 mm in-plane and 200-240 mm along z,
i.e. about 250 x 250 x 150 voxels after resampling to 1.5 mm. Each run also reports the
memory of the cached crop indices per case (stored as int32 by clara; int64 is MONAI's
default) beside that of the cached image and label.

Measured once with ``--real --only unet --iterations 3 --variants before after`` (2026-12-01,
the 2 cores shared with a training holding 1-1.5 of them, so seconds are inflated and
indicative only): 4 cases of ~11.8 M voxels after resampling (90.3 MB image + label cached per
case); data wait 1.8 % of 28.2 s/it before -> 0.7 % of 25.2 s/it after (0.89x). The cached
crop indices take 45.2 MB per case as int32 (90.3 MB as MONAI's int64): the cached item is
135.5 MB instead of 180.6 MB. The share is small here because the fp32 step on 2 contended
cores is slow; on the issue's faster bf16 step the same search was 25-40 %.

    nice -n 10 python benchmarks/bench_data_share.py [--iterations 6] [--cases 4]
    nice -n 10 python benchmarks/bench_data_share.py --real --only unet --iterations 3 \
        --variants before after
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SPLEEN = REPO / "mmars" / "clara_pt_spleen_ct_segmentation"
FIXTURE_41 = REPO / "tests" / "fixtures" / "mmar_41"
SIZED = {
    "pixdim": [1.5, 1.5, 1.5],
    "patch_size": [32, 32, 32],
    "num_samples": 4,
    "batch_size": 2,
    "amp": False,
    "num_workers": 2,
    "epochs": 1000,
    "num_interval_per_valid": 100000,
}
REAL = {"pixdim": [1.5, 1.5, 1.5], "patch_size": [96, 96, 96]}
RULE = "crop_indices.cached"


def unet_41_mmar(folder: Path) -> Path:
    """The 4.1 fixture with the real config's network and 8 patches per iteration."""
    shutil.copytree(FIXTURE_41, folder)
    path = folder / "config" / "config_train.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["train"]["model"]["args"].update(
        channels=[16, 32, 64, 128, 256], strides=[2, 2, 2, 2], num_res_units=2
    )
    for step in config["train"]["pre_transforms"]:
        if step["name"] == "RandCropByPosNegLabeld":
            step["args"]["num_samples"] = "{num_samples}"
    config["train"]["dataloader"]["args"]["batch_size"] = "{batch_size}"
    path.write_text(json.dumps(config), encoding="utf-8")
    return folder


def build_trainer(mmar: Path, data: Path, ckpt_dir: Path, sizes: dict | None = None):
    from clara_cli.workflows.sections import build_sections
    from clara_cli.workflows.session import RunRequest, open_session

    overrides = {
        **SIZED,
        **(sizes or {}),
        "DATA_ROOT": str(data),
        "DATASET_JSON": str(data / "dataset_0.json"),
        "MMAR_CKPT_DIR": str(ckpt_dir),
    }
    session = open_session(RunRequest(mmar, "config/config_train.json", overrides=overrides))
    train, _ = build_sections(session, False)
    return train.get("trainer")


def use_thread_loader(trainer) -> None:
    from monai.data import ThreadDataLoader

    loader = trainer.data_loader
    trainer.data_loader = ThreadDataLoader(
        loader.dataset,
        buffer_size=1,
        repeats=1,
        batch_size=loader.batch_size,
        shuffle=True,
        num_workers=0,
        collate_fn=loader.collate_fn,
    )


def data_share(trainer, iterations: int) -> tuple[float, float]:
    """(share of the time waiting for data, seconds per iteration), warm-up excluded."""
    from ignite.engine import Events

    starts: list[float] = []
    waits: list[float] = []
    ends: list[float] = []

    def started(engine) -> None:
        starts.append(time.perf_counter())

    def fetched(engine) -> None:
        waits.append(time.perf_counter() - starts[-1])

    def completed(engine) -> None:
        ends.append(time.perf_counter())
        if len(ends) > iterations:
            engine.terminate()

    handles = [
        trainer.add_event_handler(Events.GET_BATCH_STARTED, started),
        trainer.add_event_handler(Events.GET_BATCH_COMPLETED, fetched),
        trainer.add_event_handler(Events.ITERATION_COMPLETED, completed),
    ]
    trainer.run()
    for handle in handles:
        handle.remove()
    total = sum(end - start for start, end in zip(starts[1:], ends[1:], strict=False))
    return sum(waits[1:]) / total, total / (len(ends) - 1)


def cache_memory(dataset) -> tuple[float, float, float]:
    """MB per cached item: (image and label, crop indices as stored, the same as int64)."""
    import torch

    items = [item for item in getattr(dataset, "_cache", []) if isinstance(item, dict)]
    data = stored = as_int64 = 0
    for item in items:
        for key, value in item.items():
            parts = value if isinstance(value, list) else [value]
            for part in (p for p in parts if isinstance(p, torch.Tensor)):
                if "indices" in str(key):
                    stored += part.numel() * part.element_size()
                    as_int64 += part.numel() * 8
                else:
                    data += part.numel() * part.element_size()
    count = max(len(items), 1)
    return data / count / 2**20, stored / count / 2**20, as_int64 / count / 2**20


def measure(
    mmar: Path, data: Path, tmp: Path, variant: str, iterations: int, sizes: dict | None = None
) -> tuple:
    from clara_cli.engine.wiring import registered_rules, unregister_rule

    with registered_rules().scoped():
        if variant == "before":
            unregister_rule(RULE)
        trainer = build_trainer(mmar, data, tmp / f"models-{mmar.name}-{variant}", sizes)
    if variant == "after + thread":
        use_thread_loader(trainer)
    share, seconds = data_share(trainer, iterations)
    return share, seconds, cache_memory(trainer.data_loader.dataset)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--cases", type=int, default=4)
    parser.add_argument("--real", action="store_true", help="The real config's sizes (see above)")
    parser.add_argument("--only", choices=["unet", "spleen"], nargs="*", default=["unet", "spleen"])
    parser.add_argument(
        "--variants", nargs="*", default=["before", "after", "after + thread"],
        choices=["before", "after", "after + thread"],
    )  # fmt: skip
    args = parser.parse_args()

    from clara_cli.families.spleen.phantom import PhantomOptions, synthesize_spleen

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        data = tmp / "data"
        options = (
            PhantomOptions(in_plane_size=512, z_extent_mm=(200.0, 240.0)) if args.real else None
        )
        synthesize_spleen(data, num_cases=args.cases, seed=0, options=options)
        configs = {
            "Clara 4.1-style UNet 16-256 (no cached indices)": (
                "unet",
                unet_41_mmar(tmp / "unet41"),
            ),
            "spleen MMAR (AHNet, indices cached by the config)": ("spleen", SPLEEN),
        }
        sizes = REAL if args.real else None
        patch = (sizes or SIZED)["patch_size"][0]
        print(f"{args.iterations} iterations of 2x4 patches of {patch}^3 after a warm-up, fp32")
        for label, (name, mmar) in configs.items():
            if name not in args.only:
                continue
            print(label)
            results = {}
            for variant in args.variants:
                share, seconds, (data_mb, stored_mb, int64_mb) = measure(
                    mmar, data, tmp, variant, args.iterations, sizes
                )
                results[variant] = (share, seconds)
                print(f"  {variant:<15} data wait {share:6.1%} of {seconds:.3f} s/it; cache per "
                      f"case: image+label {data_mb:.1f} MB, crop indices {stored_mb:.1f} MB "
                      f"(as int64 {int64_mb:.1f} MB)", flush=True)  # fmt: skip
            base = results[args.variants[0]][1]
            ratios = ", ".join(f"{v} {s / base:.2f}" for v, (_, s) in results.items())
            print(f"  s/it relative to {args.variants[0]}: {ratios}  (goal: data wait < 3 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
