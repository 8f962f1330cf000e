"""The VAE variant of the BraTS MMAR trains, and its extra loss term goes down.

A few epochs of `use_vae=true` on tiny phantoms, through the MMAR's own training config (its
`iteration` adds 0.1 x the VAE loss to the Dice loss); the VAE term of every iteration is read
from the trainer's output.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from clara_cli.families.brats.phantom import PhantomOptions, synthesize_brats
from clara_cli.workflows.session import RunRequest, open_session

REPO = Path(__file__).resolve().parents[2]
MMAR = REPO / "mmars" / "clara_pt_brain_mri_segmentation"

pytestmark = pytest.mark.slow


def test_vae_variant_trains_and_its_loss_decreases(tmp_path):
    from ignite.engine import Events

    from clara_cli.families.brats.vae import VAE_LOSS
    from clara_cli.launch import process_group
    from clara_cli.workflows.sections import build_sections

    data = tmp_path / "data"
    synthesize_brats(data, 5, seed=3, options=PhantomOptions(size=32), train_fraction=0.8)
    mmar = tmp_path / "mmar"
    shutil.copytree(MMAR, mmar, ignore=shutil.ignore_patterns("models", "eval", "data"))
    overrides = {
        "DATA_ROOT": str(data),
        "DATASET_JSON": str(data / "dataset_0.json"),
        "use_vae": True,
        "epochs": 8,
        "num_interval_per_valid": 100,  # no validation: only the training losses matter here
        "patch_size": [32, 32, 16],
        "init_filters": 8,
        "batch_size": 2,  # (batch 1 of small volumes takes PyTorch's slow CPU convolution)
        "learning_rate": 1e-3,
        "num_workers": 0,
        "amp": False,
    }
    session = open_session(RunRequest(mmar, "config/config_train.json", overrides=overrides))
    try:
        train, _ = build_sections(session, amp_requested=False)
        trainer = train.get("trainer")
        losses: list[tuple[float, float]] = []

        def record(engine) -> None:
            item = engine.state.output[0]
            losses.append((float(item["loss"]), float(item[VAE_LOSS])))

        trainer.add_event_handler(Events.ITERATION_COMPLETED, record)
        trainer.run()
    finally:
        process_group.shutdown(session.dist)

    assert len(losses) == 8 * 2
    assert all(math.isfinite(total) and math.isfinite(vae) for total, vae in losses)
    vae = [v for _, v in losses]
    print("VAE loss per iteration:", " ".join(f"{v:.3f}" for v in vae))
    first, last = sum(vae[:4]) / 4, sum(vae[-4:]) / 4
    assert last < 0.8 * first
    # The total is Dice (at most 1) plus 0.1 x the VAE term.
    assert all(0.1 * v <= total <= 1.0 + 0.1 * v + 1e-5 for total, v in losses)
