"""The leaderboard-style report of `clara validate` for SegTHOR archives."""

from __future__ import annotations

import math

import pytest

from clara_cli.families import get_family
from clara_cli.families.segthor.report import (
    COLUMNS,
    format_leaderboard,
    leaderboard_rows,
    write_leaderboard,
)
from clara_cli.report.tables import summarize


def _rows():
    return [
        {"case": "a", "dice": {"oesophagus": 0.6, "heart": 0.9, "trachea": 0.8, "aorta": 0.7},
         "hd95": {"oesophagus": 4.0, "heart": 3.0, "trachea": math.nan, "aorta": 5.0}},
        {"case": "b", "dice": {"oesophagus": 0.8, "heart": 0.95, "trachea": 0.9, "aorta": 0.9},
         "hd95": {"oesophagus": 2.0, "heart": 1.0, "trachea": 2.0, "aorta": 3.0}},
    ]  # fmt: skip


def test_rows_follow_the_leaderboard_columns():
    rows = leaderboard_rows(summarize(_rows()), date="2026-12-01")
    assert COLUMNS == ("oesophagus", "heart", "trachea", "aorta")
    (dice_name, dice), (hd_name, hd) = rows
    assert dice_name == "2026-12-01 this run (2 cases, Dice)"
    assert dice == pytest.approx([0.7, 0.925, 0.85, 0.8]) and hd == [3.0, 2.0, 2.0, 4.0]
    table = format_leaderboard(rows)
    assert table.splitlines()[0] == "| date | oesophagus | heart | trachea | aorta |"
    assert "| 2026-12-01 this run (2 cases, Dice) | 0.7000 | 0.9250 | 0.8500 | 0.8000 |" in table


def test_family_report_writes_markdown_and_csv(tmp_path):
    family = get_family("segthor")
    assert family.report is not None
    family.write_report(_rows(), summarize(_rows()), tmp_path, {})
    markdown = (tmp_path / "leaderboard.md").read_text(encoding="utf-8")
    assert "2019-03-22 entry (SegTHOR test, Dice) | 0.8513 | 0.9457 | 0.9083 | 0.9175" in markdown
    csv_lines = (tmp_path / "leaderboard.csv").read_text(encoding="utf-8").splitlines()
    assert csv_lines[0] == "date,oesophagus,heart,trachea,aorta" and len(csv_lines) == 5


def test_other_class_names_show_as_missing(tmp_path):
    rows = [{"case": "a", "dice": {"spleen": 0.9}, "hd95": {"spleen": 1.0}}]
    (path, _) = write_leaderboard(rows, summarize(rows), tmp_path, {})
    assert "| - | - | - | - |" in path.read_text(encoding="utf-8")
