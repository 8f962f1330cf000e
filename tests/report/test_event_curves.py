"""Training curves for the report: train_curves.png, else the TensorBoard event files."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch.utils.tensorboard import SummaryWriter

from clara_cli.report.event_curves import read_event_scalars, training_curves


def _events(folder: Path, tag: str, points: list[tuple[int, float]], suffix: str) -> None:
    writer = SummaryWriter(str(folder), filename_suffix=suffix)
    for step, value in points:
        writer.add_scalar(tag, value, step)
    writer.close()


def test_scalars_of_every_event_file_are_merged_by_step(tmp_path):
    _events(tmp_path, "train_loss", [(1, 0.9), (2, 0.8), (3, 0.7)], ".a")
    _events(tmp_path, "train_loss", [(3, 0.65), (4, 0.6)], ".b")  # a resumed run
    _events(tmp_path, "val_mean_dice", [(1, 0.2), (2, 0.4)], ".c")
    scalars = read_event_scalars(tmp_path)
    steps, values = zip(*scalars["train_loss"], strict=True)
    assert steps == (1, 2, 3, 4)
    assert values == pytest.approx([0.9, 0.8, 0.65, 0.6])  # stored as float32
    assert [s for s, _ in scalars["val_mean_dice"]] == [1, 2]


def test_the_trainings_own_curves_come_first(tmp_path):
    ckpt = tmp_path / "models"
    ckpt.mkdir()
    assert training_curves(ckpt, tmp_path / "out.png") is None
    _events(ckpt, "train_loss", [(1, 0.9), (2, 0.8)], ".a")
    path, source = training_curves(ckpt, tmp_path / "out.png")
    assert path == tmp_path / "out.png" and path.read_bytes()[:4] == b"\x89PNG"
    assert source == f"TensorBoard event files in {ckpt}"
    (ckpt / "train_curves.png").write_bytes(b"\x89PNG drawn by training")
    assert training_curves(ckpt, tmp_path / "out.png") == (
        ckpt / "train_curves.png",
        str(ckpt / "train_curves.png"),
    )
    assert training_curves(tmp_path / "missing", tmp_path / "out.png") is None
