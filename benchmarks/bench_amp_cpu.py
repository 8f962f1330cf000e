"""Time a 3D MONAI UNet training step on CPU in fp32 and under bf16 autocast, same run.

Prints seconds per step for each mode and the ratio (fp32 / bf16: above 1 means bf16 is
faster), interleaving the two modes so that clock drift and thermal effects hit both alike.
With ``--dice-steps N`` it also trains the same seeded network N steps in each mode on
synthetic spheres and prints the Dice of each on held-out volumes ("at equal Dice").

With ``--phantom-epochs N`` it also runs `clara train` itself (the engine's CPU bf16 path, its
non-finite-gradient fallback included) on spleen CT phantoms, once with ``amp=false`` and once
with ``amp=true``: the spleen MMAR's recipe at commands/demo.sh's CPU size, its network swapped
for the UNet of MONAI's spleen tutorial (``--phantom-model ahnet`` keeps the MMAR's AHNet). It
prints the median seconds per training iteration (forward, backward, step, post-processing;
not data loading) and the final validation Dice of each.

Usage::

    .venv/bin/python benchmarks/bench_amp_cpu.py                          # timing, a few min
    .venv/bin/python benchmarks/bench_amp_cpu.py --size 32 --dice-steps 30  # + Dice
    .venv/bin/python benchmarks/bench_amp_cpu.py --steps 0 --phantom-epochs 20  # engine run
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch
from _common import tutorial_unet
from monai.data import create_test_image_3d
from monai.losses import DiceCELoss
from monai.utils import set_determinism


def _autocast(bf16: bool) -> contextlib.AbstractContextManager:
    if bf16:
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _batch(size: int, batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for i in range(batch):
        image, label = create_test_image_3d(
            size,
            size,
            size,
            num_objs=4,
            rad_max=size // 5,
            noise_max=0.3,
            random_state=_rs(seed + i),
        )
        images.append(torch.as_tensor(image)[None])
        labels.append(torch.as_tensor(label > 0, dtype=torch.float32)[None])
    return torch.stack(images).float(), torch.stack(labels)


def _rs(seed: int):
    import numpy as np

    return np.random.RandomState(seed)


def _step(net, optimizer, loss_fn, image, label, bf16: bool) -> float:
    optimizer.zero_grad(set_to_none=True)
    with _autocast(bf16):
        loss = loss_fn(net(image), label)
    loss.backward()
    optimizer.step()
    return loss.item()


def time_steps(size: int, batch: int, steps: int, warmup: int) -> dict[str, float]:
    """Median seconds per training step in each mode, modes interleaved step by step."""
    set_determinism(0)
    image, label = _batch(size, batch, seed=0)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    nets = {mode: tutorial_unet() for mode in ("fp32", "bf16")}
    opts = {mode: torch.optim.Adam(net.parameters(), 1e-3) for mode, net in nets.items()}
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for i in range(warmup + steps):
        for mode in ("fp32", "bf16"):
            start = time.perf_counter()
            _step(nets[mode], opts[mode], loss_fn, image, label, mode == "bf16")
            if i >= warmup:
                times[mode].append(time.perf_counter() - start)
    return {mode: statistics.median(values) for mode, values in times.items()}


def dice_after_training(size: int, batch: int, steps: int, bf16: bool) -> float:
    """Train a seeded UNet on synthetic spheres; mean Dice on 4 held-out volumes (fp32 eval)."""
    set_determinism(0)
    net = tutorial_unet()
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    for step in range(steps):
        image, label = _batch(size, batch, seed=1000 + step * batch)
        _step(net, optimizer, loss_fn, image, label, bf16)
    net.eval()
    image, label = _batch(size, 4, seed=999_000)
    with torch.no_grad():
        pred = net(image).argmax(dim=1, keepdim=True).float()
    inter = (pred * label).sum(dim=(1, 2, 3, 4))
    dice = 2 * inter / (pred.sum(dim=(1, 2, 3, 4)) + label.sum(dim=(1, 2, 3, 4)) + 1e-6)
    return float(dice.mean())


def phantom_run(epochs: int, model: str) -> dict[str, dict[str, float]]:
    """Train the spleen MMAR recipe on phantoms with amp=false and amp=true (same seed)."""
    import json
    import shutil
    import tempfile
    from pathlib import Path

    from ignite.engine import Events

    from clara_cli.families.spleen.phantom import PhantomOptions, synthesize_spleen
    from clara_cli.workflows import train as workflows
    from clara_cli.workflows.session import RunRequest

    work = Path(tempfile.mkdtemp(prefix="bench_amp_"))
    try:
        mmar = work / "mmar"
        shutil.copytree(
            Path(__file__).parents[1] / "mmars" / "clara_pt_spleen_ct_segmentation", mmar
        )
        shutil.rmtree(mmar / "models", ignore_errors=True)
        if model == "unet":
            config = mmar / "config" / "config_train.json"
            conf = json.loads(config.read_text())
            conf["train"]["model"] = {"name": "UNet", "args": {**_UNET_ARGS}}
            config.write_text(json.dumps(conf))
        # The recipe of commands/demo.sh: 16 phantoms, 2 mm voxels, 32^3 patches.
        data = synthesize_spleen(
            work / "data", num_cases=16, seed=1, options=PhantomOptions(), train_fraction=0.75
        )
        timings: dict[str, list[float]] = {}
        original_build = workflows.build_sections

        def timed_sections(session, amp_requested):
            sections = original_build(session, amp_requested)
            trainer = sections[0].get("trainer")
            steps = timings.setdefault(str(amp_requested), [])
            start = {}
            trainer.add_event_handler(
                Events.ITERATION_STARTED, lambda e: start.update(t=time.perf_counter())
            )
            trainer.add_event_handler(
                Events.ITERATION_COMPLETED, lambda e: steps.append(time.perf_counter() - start["t"])
            )
            return sections

        workflows.build_sections = timed_sections
        results = {}
        for amp in (False, True):
            overrides = {
                "DATA_ROOT": str(work / "data"),
                "DATASET_JSON": str(data),
                "MMAR_CKPT_DIR": str(work / f"models_{amp}"),
                "epochs": epochs,
                "num_interval_per_valid": epochs,
                "patch_size": [32, 32, 32],
                "roi_size": [64, 64, 64],
                "pixdim": [2.0, 2.0, 2.0],
                "learning_rate": 2e-3,
                "num_samples": 4,
                "num_workers": 2,
                "amp": amp,
            }
            result = workflows.train(
                RunRequest(mmar, "config/config_train.json", overrides=overrides, device="cpu")
            )
            steps = timings[str(amp)][2:]  # skip warm-up
            results["bf16" if amp else "fp32"] = {
                "s_per_it": statistics.median(steps),
                "dice": float(result.history[-1].get("val_mean_dice", float("nan"))),
            }
        workflows.build_sections = original_build
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


# The network of MONAI's spleen segmentation tutorial (with instance norm and 3 levels it
# barely learnt the phantoms in this recipe: Dice about 0.2 after 150 epochs).
_UNET_ARGS = {
    "spatial_dims": 3,
    "in_channels": 1,
    "out_channels": 2,
    "channels": [16, 32, 64, 128, 256],
    "strides": [2, 2, 2, 2],
    "num_res_units": 2,
    "norm": "batch",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=64, help="cube edge in voxels")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per mode (0: skip)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--dice-steps", type=int, default=0, help="also compare Dice after N steps")
    parser.add_argument(
        "--phantom-epochs", type=int, default=0, help="also train the MMAR on phantoms N epochs"
    )
    parser.add_argument("--phantom-model", choices=["unet", "ahnet"], default="unet")
    args = parser.parse_args()

    from clara_cli.engine.amp import cpu_has_native_bf16

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"native bf16 on this CPU (AVX512_BF16 or AMX): {cpu_has_native_bf16()}")
    if args.steps:
        print(f"UNet 16-128, 2 res units, batch {args.batch}x1x{args.size}^3")
        median = time_steps(args.size, args.batch, args.steps, args.warmup)
        print(f"fp32: {median['fp32']:.3f} s/step   bf16 autocast: {median['bf16']:.3f} s/step")
        print(f"ratio fp32/bf16 = {median['fp32'] / median['bf16']:.2f} (>1: bf16 is faster)")
    if args.dice_steps:
        size = min(args.size, 48)
        dice = {
            m: dice_after_training(size, 2, args.dice_steps, m == "bf16") for m in ("fp32", "bf16")
        }
        print(
            f"Dice after {args.dice_steps} steps ({size}^3): fp32 {dice['fp32']:.3f}, bf16 {dice['bf16']:.3f}"
        )
    if args.phantom_epochs:
        import logging

        from clara_cli.logs import configure_logging

        configure_logging()
        logging.getLogger("clara").setLevel(logging.WARNING)
        runs = phantom_run(args.phantom_epochs, args.phantom_model)
        print(
            f"clara train on 12+4 spleen phantoms ({args.phantom_model}, 2 mm, 32^3 patches, "
            f"batch 2x4, {args.phantom_epochs} epochs):"
        )
        for mode, run in runs.items():
            print(f"  amp={mode == 'bf16'}: {run['s_per_it']:.3f} s/it, val Dice {run['dice']:.3f}")
        print(f"  ratio fp32/bf16 = {runs['fp32']['s_per_it'] / runs['bf16']['s_per_it']:.2f}")


if __name__ == "__main__":
    main()
