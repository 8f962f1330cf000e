"""`clara validate` writes report.html and a per-case CSV with files and volumes.

The model is a scripted band-pass filter (foreground where the smoothed, scaled intensity is
in the spleen's band), so the run needs no training and takes seconds.
"""

from __future__ import annotations

import csv
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from clara_cli.workflows.session import RunRequest
from clara_cli.workflows.validate import validate

SPLEEN = Path(__file__).resolve().parents[2] / "mmars" / "clara_pt_spleen_ct_segmentation"


class Sources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.sources += [str(v) for k, v in attrs if k in ("src", "href")]

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture
def validated(phantom_dir, band_model, tmp_path):
    overrides = {
        "DATA_ROOT": str(phantom_dir),
        "DATASET_JSON": str(phantom_dir / "dataset_0.json"),
        "MMAR_TORCHSCRIPT": str(band_model),
        "MMAR_EVAL_OUTPUT_PATH": str(tmp_path / "eval"),
        "MMAR_CKPT_DIR": str(tmp_path / "models"),
        "dont_load_ts_model": False,
        "dont_load_ckpt_model": True,
        "pixdim": [2.0, 2.0, 2.0],
        "roi_size": [32, 32, 32],
        "amp": False,
    }
    request = RunRequest(SPLEEN, "config/config_validation.json", overrides=overrides, device="cpu")
    return validate(request), phantom_dir


def test_report_html_shows_every_case_with_embedded_images(validated):
    result, _ = validated
    page = Sources()
    page.feed((result.output_dir / "report.html").read_text(encoding="utf-8"))
    text = "".join(page.text)
    for row in result.rows:
        assert row["case"] in text
    assert page.sources, "the Dice chart and overlays are images"
    assert all(s.startswith("data:image/png;base64,") for s in page.sources)
    # The Dice chart and one overlay per case (no training curves: models/ is empty).
    overlays = list((result.output_dir / "overlays").glob("*.png"))
    assert len(overlays) == len(result.rows)
    assert len(page.sources) == 1 + len(overlays)
    assert "No training curves found" in text
    assert "band.ts" in text  # the model file the scores come from


def test_case_table_names_the_files_and_measures_volumes(validated):
    result, phantom_dir = validated
    with (result.output_dir / "metrics_per_case.csv").open(encoding="utf-8", newline="") as f:
        table = {row["case"]: row for row in csv.DictReader(f)}
    assert set(table) == {row["case"] for row in result.rows}
    for case, row in table.items():
        assert Path(row["image"]) == (phantom_dir / "imagesTr" / f"{case}.nii.gz").resolve()
        label = sitk.ReadImage(row["label"])
        voxel_ml = float(np.prod(label.GetSpacing())) / 1000.0
        original = np.count_nonzero(sitk.GetArrayFromImage(label)) * voxel_ml
        # Counted on the 2 mm grid the Dice is computed on, not the file's own grid.
        assert row["metric_spacing_mm"] == "2 2 2"
        assert float(row["label_volume_ml_spleen"]) == pytest.approx(original, rel=0.15)
        assert float(row["label_volume_ml_spleen"]) % 0.008 == pytest.approx(0.0, abs=1e-6)
        assert float(row["pred_volume_ml_spleen"]) > 0.0
