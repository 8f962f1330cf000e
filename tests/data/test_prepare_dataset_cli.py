"""Wiring of `clara prepare-dataset` (the library is tested in test_prepare / test_deepgrow_slices)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from clara_cli.cli.main import cli
from clara_cli.cli.overrides import join_number_tokens
from clara_cli.families.spleen.phantom import PhantomOptions, synthesize_spleen


def run(*args):
    return CliRunner().invoke(cli, ["prepare-dataset", *map(str, args)])


def test_datalist_folds_deepgrow_and_slices(tmp_path):
    root = tmp_path / "spleen"
    synthesize_spleen(root, num_cases=4, options=PhantomOptions(in_plane_size=32))
    result = run("-d", root, "-o", root / "list.json", "--split", "0.5", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert len(json.loads((root / "list.json").read_text())["validation"]) == 2
    assert run("-d", root, "-o", root / "list.json").exit_code == 1  # exists, no --force

    folds = run("-d", root, "--folds", "2")
    assert folds.exit_code == 0, folds.output
    assert (root / "dataset_fold1.json").is_file()

    deepgrow = run("-d", root, "--deepgrow", "--pixdim", "2", "2", "3", "-o", tmp_path / "dg")
    assert deepgrow.exit_code == 0, deepgrow.output
    assert "Wrote 4 DeepGrow 3D samples of 4 case(s)" in deepgrow.output

    sliced = run("-d", root, "--slices", "--empty-fraction", "0", "-o", tmp_path / "sl")
    assert sliced.exit_code == 0, sliced.output
    assert (tmp_path / "sl" / "dataset_0.json").is_file()


def test_problems_are_warned_about_and_output_may_be_a_folder(tmp_path):
    root = tmp_path / "spleen"
    synthesize_spleen(root, num_cases=3, options=PhantomOptions(in_plane_size=32))
    (root / "dataset.json").unlink()  # match imagesTr/labelsTr by name
    lonely = next((root / "imagesTr").iterdir())
    lonely.rename(root / "imagesTr" / "lonely.nii.gz")
    (tmp_path / "lists").mkdir()
    result = run("-d", root, "-o", tmp_path / "lists")
    assert result.exit_code == 0, result.output
    assert "Warning: 1 image(s) without a label:\n  imagesTr/lonely.nii.gz" in result.output
    assert "Warning: 1 label(s) without an image:" in result.output
    datalist = json.loads((tmp_path / "lists" / "dataset_0.json").read_text())
    assert len(datalist["training"]) + len(datalist["validation"]) == 2


def test_usage_errors(tmp_path):
    assert run("-d", tmp_path, "--deepgrow").exit_code == 2  # needs -o
    assert run("-d", tmp_path, "--deepgrow", "--slices", "-o", tmp_path / "o").exit_code == 2
    result = run("-d", tmp_path)
    assert result.exit_code == 1 and "no dataset.json and no imagesTr" in result.output


def test_join_pixdim_tokens():
    assert join_number_tokens(["--pixdim", "1", "1", "3", "-o", "x"], ("--pixdim",)) == [
        "--pixdim",
        "1,1,3",
        "-o",
        "x",
    ]
