"""Dice-versus-clicks validation: the simulation loop, its report, and DeepgrowStatsHandler."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from clara_cli.errors import DataError
from clara_cli.families.deepgrow.report import (
    format_click_summary,
    summarize_clicks,
    write_click_report,
)
from clara_cli.families.deepgrow.simulate import count_points, sample_seed
from clara_cli.families.deepgrow.stats_handler import DeepgrowStatsHandler, region_dice


def _rows() -> list[dict]:
    rows = []
    for case, organ, start in (("c1", "liver", 0.5), ("c1", "spleen", 0.7), ("c2", "liver", 0.6)):
        for clicks in (1, 2, 3):
            dice = None if (case, clicks) == ("c2", 2) else start + 0.1 * clicks
            rows.append({"case": case, "organ": organ, "region": 1, "clicks": clicks,
                         "dice": dice, "foreground": clicks, "background": 0})  # fmt: skip
    return rows


def test_summary_per_click_count_and_organ():
    summary = summarize_clicks(_rows(), seed=7)
    assert (summary["num_samples"], summary["num_cases"], summary["clicks"]) == (3, 2, 3)
    first, second, last = summary["dice_by_clicks"]
    assert first["count"] == 3 and math.isclose(first["mean"], (0.6 + 0.8 + 0.7) / 3)
    assert second["count"] == 2  # the None (empty label) is left out
    assert math.isclose(summary["mean_dice"], last["mean"])
    assert math.isclose(summary["per_organ"]["liver"]["mean_dice_by_clicks"][2], (0.8 + 0.9) / 2)
    assert summary["per_organ"]["liver"]["samples"] == 2
    text = format_click_summary(summary)
    assert "3 samples (2 cases, 2 organs)" in text and "spleen" in text
    with pytest.raises(DataError, match="validation list is empty"):
        summarize_clicks([], seed=0)


def test_report_files(tmp_path):
    rows = _rows()
    written = write_click_report(rows, summarize_clicks(rows, 0), tmp_path)
    assert [p.name for p in written] == [
        "dice_per_click.csv", "metrics_summary.json", "dice_vs_clicks.png"
    ]  # fmt: skip
    lines = (tmp_path / "dice_per_click.csv").read_text().splitlines()
    assert lines[0] == "case,organ,region,clicks,dice,foreground,background"
    assert len(lines) == 1 + len(rows) and lines[8].split(",")[4] == ""  # None: empty cell
    assert json.loads((tmp_path / "metrics_summary.json").read_text())["clicks"] == 3
    assert (tmp_path / "dice_vs_clicks.png").stat().st_size > 5000


def test_guidance_points_and_seeds():
    assert count_points("[[[1, 2, 3, 4], [-1, -1, -1, -1]], [[-1, -1, -1, -1], [0, 5, 6, 7]]]") == (
        1,
        1,
    )
    a = {"case": "c1", "region": 3, "label": "l3.nii.gz"}
    assert sample_seed(0, a) == sample_seed(0, dict(a)) != sample_seed(1, a)
    assert sample_seed(0, a) != sample_seed(0, {**a, "region": 4})


def test_region_dice_and_stats_handler(tmp_path):
    assert region_dice(np.zeros((1, 4, 4)), np.zeros((1, 4, 4))) is None
    pred, label = torch.zeros(1, 4, 4), torch.zeros(1, 4, 4)
    pred[0, :2], label[0, 1:3] = 1, 1
    assert region_dice(pred, label) == pytest.approx(0.5)

    class Writer:
        def __init__(self):
            self.scalars = {}

        def add_scalar(self, tag, value, step):
            self.scalars[tag] = (value, step)

        def flush(self):
            pass

    class State:
        epoch, batch, output = 2, None, None

    class Engine:
        state = State()

    handler = DeepgrowStatsHandler(summary_writer=Writer(), tag_name="val_dice")
    engine = Engine()
    engine.state.batch = [{"region": torch.tensor(1)}, {"region": 2}]
    engine.state.output = [{"pred": pred, "label": label}, {"pred": label, "label": label}]
    handler.iteration(engine)
    handler.epoch(engine)
    scalars = handler.writer.scalars
    assert scalars["val_dice_01"] == (pytest.approx(0.5), 2)
    assert scalars["val_dice_02"] == (pytest.approx(1.0), 2)
    assert scalars["val_dice_regions_avg"][0] == pytest.approx(0.75)
    assert not handler.scores  # reset for the next epoch


def test_legacy_clara_handler_path_finds_it():
    from clara_cli.families import load_families
    from clara_cli.registry.build import find_class

    load_families()
    found, _ = find_class({"path": "deepgrow.handler.DeepgrowStatsHandler"}, "handler", "test")
    assert found is DeepgrowStatsHandler


@pytest.mark.slow
def test_simulated_clicks_are_deterministic_per_sample(tmp_path):
    """Same seed and sample: the same clicks and Dice, whatever ran before."""
    from monai.inferers import SimpleInferer
    from monai.networks.nets import BasicUNet
    from monai.transforms import Compose

    from clara_cli.data.deepgrow import prepare_deepgrow
    from clara_cli.families.deepgrow.phantom import AbdomenOptions, synthesize_abdomen
    from clara_cli.families.deepgrow.simulate import ClickModel, simulate_clicks
    from clara_cli.mmar.loader import load_mmar_config
    from clara_cli.mmar.resolver import Runtime, Section
    from clara_cli.mmar.variables import substitute

    synthesize_abdomen(tmp_path / "raw", num_cases=2, options=AbdomenOptions(in_plane_size=32))
    report = prepare_deepgrow(tmp_path / "raw", tmp_path / "dg", pixdim=[2, 2, 3])
    items = json.loads(report.datalist.read_text())["training"][:2]
    root = Path(__file__).resolve().parents[2] / "mmars" / "clara_pt_deepgrow_3d_annotation"
    mmar = load_mmar_config(
        root, "config/config_validation.json", overrides={"patch_size": [16, 32, 32]}
    )
    conf = substitute(dict(mmar.config), mmar.variables, "", "test")
    keys = ("pre_transforms", "iteration", "post_transforms")
    section = Section("validate", {k: conf[k] for k in keys}, "test", Runtime(), conf, prefix="")
    torch.manual_seed(0)
    network = BasicUNet(spatial_dims=3, in_channels=3, out_channels=1, features=(4, 4, 8, 8, 16, 4))
    model = ClickModel(
        section.get("pre_transforms"), Compose(section.get("iteration").transforms),
        network.eval(), SimpleInferer(), section.get("post_transforms"), torch.device("cpu"),
    )  # fmt: skip
    first = simulate_clicks(model, items[0], clicks=4, seed=5)
    simulate_clicks(model, items[1], clicks=4, seed=5)
    assert simulate_clicks(model, items[0], clicks=4, seed=5) == first
    assert [row["clicks"] for row in first] == [1, 2, 3, 4]
    assert [row["foreground"] + row["background"] for row in first] == [1, 2, 3, 4]
    assert all(0.0 <= row["dice"] <= 1.0 for row in first)


def test_the_simulated_clicks_do_not_depend_on_the_data_folder():
    # The same sample in another folder gets the same seed (so the same clicks and Dice).
    here = {"case": "c1", "region": 3, "label": "/tmp/a/labels/l3.nii.gz"}
    there = {**here, "label": "/data/run-7/samples/labels/l3.nii.gz"}
    assert sample_seed(0, here) == sample_seed(0, there)
    assert sample_seed(0, here) != sample_seed(0, {**here, "label": "/tmp/a/labels/l4.nii.gz"})
