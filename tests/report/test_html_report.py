"""report.html: self-contained (inline CSS, data-URI images), every case, escaped values;
and the per-case CSV's file and volume columns."""

from __future__ import annotations

import csv
import math
from html.parser import HTMLParser
from pathlib import Path

import numpy as np

from clara_cli.engine.case_recorder import case_files_and_volumes, volumes_ml
from clara_cli.report.figures import plot_case_dice
from clara_cli.report.html_report import ReportInputs, write_html_report
from clara_cli.report.tables import summarize, write_case_table


class PageParser(HTMLParser):
    """Collects tags, attributes and text, and fails on unbalanced table markup."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.links: list[str] = []
        self.text: list[str] = []
        self.open_tables = 0
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        values = dict(attrs)
        if tag == "img":
            self.images.append(values)
        if tag in ("link", "script", "iframe"):
            self.links.append(tag)
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))
        if tag == "table":
            self.open_tables += 1

    def handle_endtag(self, tag):
        if tag == "table":
            self.open_tables -= 1

    def handle_data(self, data):
        self.text.append(data)


def _rows() -> list[dict]:
    rows = []
    for index, dice in enumerate([0.91, 0.42, math.nan, 0.77, 0.05]):
        rows.append(
            {
                "case": f"case_<{index}>",
                "dice": {"spleen": 0.0 if math.isnan(dice) else dice, "liver": 0.8},
                "hd95": {"spleen": math.nan if math.isnan(dice) else 3.5, "liver": 2.0},
                "image": f"/data/images/case_{index}.nii.gz",
                "label": f"/data/labels/case_{index}.nii.gz",
                "spacing": [1.5, 1.5, 2.0],
                "volume_ml": {
                    "label": {"spleen": 120.5 + index, "liver": 1500.0},
                    "pred": {"spleen": 118.25, "liver": 1490.0},
                },
            }
        )
    return rows


def _page(tmp_path: Path, rows, overlays=None, curves=None) -> tuple[str, PageParser]:
    chart = plot_case_dice(rows, tmp_path / "dice_per_case.png")
    inputs = ReportInputs("tiny <mmar>", {"model": "/m/model.ts"}, chart, overlays or {}, curves)
    path = write_html_report(rows, summarize(rows), inputs, tmp_path / "report.html")
    text = path.read_text(encoding="utf-8")
    parser = PageParser()
    parser.feed(text)
    parser.close()
    return text, parser


def test_the_page_is_self_contained_and_lists_every_case(tmp_path):
    rows = _rows()
    overlays = {rows[4]["case"]: plot_case_dice(rows[:1], tmp_path / "o4.png")}
    text, page = _page(tmp_path, rows, overlays, curves=plot_case_dice(rows, tmp_path / "c.png"))
    assert page.open_tables == 0
    assert page.links == []  # no stylesheet, script or link to fetch
    assert len(page.images) == 3  # Dice chart, training curves, one overlay
    for image in page.images:
        assert str(image["src"]).startswith("data:image/png;base64,")
    joined = "".join(page.text)
    for row in rows:
        assert row["case"] in joined  # escaped in the source, the text after parsing
    assert "case_<0>" not in text and "case_&lt;0&gt;" in text
    assert "tiny <mmar>: validation report" in joined
    spleen = np.array([row["dice"]["spleen"] for row in rows])
    assert f"{spleen.mean():.3f} ± {spleen.std():.3f}" in joined  # population sd, as summarize
    assert "1 of 5" in joined  # one case with HD95 n/a
    assert "case_3.nii.gz" in joined and "/data/labels/case_3.nii.gz" in text
    assert "124.50" in joined and "1.5 × 1.5 × 2" in joined


def test_missing_curves_and_overlays_are_said_not_hidden(tmp_path):
    _, page = _page(tmp_path, _rows())
    joined = "".join(page.text)
    assert "No training curves found" in joined
    assert "No overlays" in joined
    assert len(page.images) == 1


def test_the_case_table_gains_files_and_volumes(tmp_path):
    path = write_case_table(_rows(), tmp_path / "metrics_per_case.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert list(table[0]) == [
        "case",
        "image",
        "label",
        "dice_spleen",
        "dice_liver",
        "hd95_spleen",
        "hd95_liver",
        "label_volume_ml_spleen",
        "label_volume_ml_liver",
        "pred_volume_ml_spleen",
        "pred_volume_ml_liver",
        "metric_spacing_mm",
    ]
    assert table[1]["image"] == "/data/images/case_1.nii.gz"
    assert float(table[1]["label_volume_ml_spleen"]) == 121.5
    assert table[1]["metric_spacing_mm"] == "1.5 1.5 2"


def test_volumes_count_each_class_times_the_voxel_volume():
    label = np.zeros((4, 5, 6), dtype=np.int16)
    label[0, :, :] = 1  # 30 voxels
    label[1, 0, :3] = 2  # 3 voxels
    assert volumes_ml(label, (2.0, 2.5, 4.0), ["a", "b"]) == {"a": 0.6, "b": 0.06}
    regions = np.stack([label > 0, label == 2])
    assert volumes_ml(regions, (2.0, 2.5, 4.0), ["wt", "et"]) == {"wt": 0.66, "et": 0.06}


def test_a_row_names_its_files_from_the_metadata():
    from monai.data import MetaTensor

    image = MetaTensor(np.zeros((1, 2, 2, 2)), meta={"filename_or_obj": "/x/img_7.nii.gz"})
    label = MetaTensor(np.zeros((1, 2, 2, 2)), meta={"filename_or_obj": ["/x/lab_7.nii.gz"]})
    pred = np.ones((2, 2, 2), dtype=np.int16)
    extras = case_files_and_volumes(
        {"image": image, "label": label}, pred, np.zeros_like(pred), (1.0, 1.0, 10.0), ["s"]
    )
    assert extras["image"] == "/x/img_7.nii.gz" and extras["label"] == "/x/lab_7.nii.gz"
    assert extras["volume_ml"] == {"label": {"s": 0.0}, "pred": {"s": 0.08}}
