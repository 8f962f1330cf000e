from __future__ import annotations

import csv
import json
import math

import pytest

from clara_cli.errors import DataError
from clara_cli.report.tables import (
    format_summary,
    summarize,
    write_case_table,
    write_summary,
)

ROWS = [
    {
        "case": "case_a",
        "dice": {"liver": 0.9, "tumour": 0.5},
        "hd95": {"liver": 2.0, "tumour": 8.0},
    },
    {
        "case": "case_b",
        "dice": {"liver": 0.7, "tumour": 0.0},
        "hd95": {"liver": 4.0, "tumour": math.nan},
    },
    {
        "case": "case_c",
        "dice": {"liver": 0.8, "tumour": 1.0},
        "hd95": {"liver": 6.0, "tumour": math.nan},
    },
]


def test_case_table_columns_and_round_trip(tmp_path):
    path = write_case_table(ROWS, tmp_path / "eval" / "cases.csv")
    header = path.read_text().splitlines()[0]
    assert header == "case,dice_liver,dice_tumour,hd95_liver,hd95_tumour"
    assert path.read_text().splitlines()[2] == "case_b,0.7,0.0,4.0,"
    with open(path, newline="", encoding="utf-8") as handle:
        back = list(csv.DictReader(handle))
    assert [row["case"] for row in back] == ["case_a", "case_b", "case_c"]
    assert float(back[0]["dice_liver"]) == ROWS[0]["dice"]["liver"]
    assert back[1]["hd95_tumour"] == ""  # NaN is an empty cell
    assert not list(tmp_path.glob("eval/.*")), "temporary file left behind"


def test_summary_statistics_exclude_and_count_nan():
    summary = summarize(ROWS)
    assert summary["num_cases"] == 3
    assert summary["class_names"] == ["liver", "tumour"]
    liver = summary["per_class"]["liver"]
    assert liver["dice"]["mean"] == pytest.approx(0.8)
    assert liver["dice"]["median"] == pytest.approx(0.8)
    assert liver["dice"]["min"] == pytest.approx(0.7)
    assert liver["dice"]["max"] == pytest.approx(0.9)
    assert liver["dice"]["std"] == pytest.approx(math.sqrt(0.02 / 3))
    tumour_hd = summary["per_class"]["tumour"]["hd95"]
    assert tumour_hd["mean"] == 8.0
    assert tumour_hd["count"] == 1
    assert tumour_hd["nan_count"] == 2
    assert summary["mean_dice"] == pytest.approx((0.9 + 0.7 + 0.8 + 0.5 + 0.0 + 1.0) / 6)
    assert summary["mean_hd95"] == pytest.approx((2 + 4 + 6 + 8) / 4)


def test_summary_json_round_trip_writes_null_for_missing_values(tmp_path):
    rows = [{"case": "x", "dice": {"a": 0.0}, "hd95": {"a": math.nan}}]
    summary = summarize(rows)
    path = write_summary(summary, tmp_path / "summary.json")
    loaded = json.loads(path.read_text())
    assert loaded["per_class"]["a"]["hd95"]["mean"] is None
    assert loaded["mean_hd95"] is None
    assert loaded["per_class"]["a"]["hd95"]["nan_count"] == 1
    assert loaded["num_cases"] == 1


def test_format_summary_shows_means_and_nan_counts():
    text = format_summary(summarize(ROWS))
    assert text.splitlines()[0] == "Validation: 3 cases, mean Dice 0.650, mean HD95 5.00 mm"
    tumour_line = next(line for line in text.splitlines() if line.strip().startswith("tumour"))
    assert "0.500 ± 0.408" in tumour_line
    assert tumour_line.endswith("2 of 3")


def test_no_rows_is_an_error():
    with pytest.raises(DataError, match="no cases to report"):
        summarize([])


def test_rows_with_different_classes_are_rejected():
    rows = [ROWS[0], {"case": "odd", "dice": {"liver": 1.0}, "hd95": {"liver": 0.0}}]
    with pytest.raises(DataError, match="case 'odd' has dice classes"):
        summarize(rows)
