"""Bad input to `clara train`: one clear message, exit code 1, no traceback unless --debug."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from clara_cli.cli.main import cli


def _edit(mmar: Path, edit) -> None:
    path = mmar / "config" / "config_train.json"
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config, indent=2))


def _train(mmar: Path, *extra: str):
    return CliRunner().invoke(cli, ["train", "-m", str(mmar), *extra])


def _assert_clean_failure(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    # The message starts a line of its own (after a closed progress bar: a carriage return).
    assert re.search(r"(^|[\n\r])Error: ", result.output), result.output
    return result.output


def test_malformed_json_shows_file_line_and_column(mmar_41):
    path = mmar_41 / "config" / "config_train.json"
    lines = path.read_text().splitlines()
    lines[2] = lines[2].rstrip(",")  # drop the comma after "num_interval_per_valid": 1
    path.write_text("\n".join(lines))
    output = _assert_clean_failure(_train(mmar_41))
    assert f"{path}:4:3: invalid JSON: Expecting ',' delimiter" in output


def test_unknown_component_suggests_the_closest_names(mmar_41):
    _edit(mmar_41, lambda c: c["train"]["loss"].update(name="DiceLos"))
    output = _assert_clean_failure(_train(mmar_41))
    assert "config_train.json: train.loss.name: unknown loss 'DiceLos'." in output
    assert "Did you mean 'DiceLoss'" in output


def test_unresolved_variable_names_variable_file_and_key(mmar_41):
    _edit(mmar_41, lambda c: c["train"]["optimizer"]["args"].update(lr="{learning_rat}"))
    output = _assert_clean_failure(_train(mmar_41))
    assert (
        "config_train.json: train.optimizer.args.lr: unresolved variable {learning_rat}" in output
    )
    assert "Did you mean 'learning_rate'" in output


def test_missing_data_files_show_the_first_few_and_the_count(mmar_41, tmp_path):
    items = [
        {"image": f"imagesTr/nope_{i}.nii.gz", "label": f"labelsTr/nope_{i}.nii.gz"}
        for i in range(4)
    ]
    datalist = tmp_path / "missing.json"
    datalist.write_text(json.dumps({"training": items, "validation": items[:1]}))
    output = _assert_clean_failure(_train(mmar_41, "--set", f"DATASET_JSON={datalist}"))
    assert "8 file(s) listed in" in output
    assert "nope_0.nii.gz" in output
    assert "... and 3 more" in output
    assert "train.dataset" in output


def test_arguments_that_do_not_fit_name_component_file_and_argument(mmar_41):
    _edit(mmar_41, lambda c: c["train"]["model"]["args"].update(chanels=[4, 8]))
    output = _assert_clean_failure(_train(mmar_41))
    assert "config_train.json: train.model.args.chanels: UNet has no argument 'chanels'" in output
    assert "Did you mean 'channels'" in output


def test_debug_shows_the_traceback(mmar_41):
    _edit(mmar_41, lambda c: c["train"]["loss"].update(name="DiceLos"))
    result = CliRunner().invoke(cli, ["train", "-m", str(mmar_41), "--debug"])
    assert result.exit_code == 1
    assert "Traceback" in result.output


def test_an_error_inside_a_transform_names_the_transform(mmar_41):
    _edit(mmar_41, lambda c: c.update(patch_size=[64, 64, 64]))
    _edit(mmar_41, lambda c: c["train"]["pre_transforms"][5]["args"].update(allow_smaller=False))
    output = _assert_clean_failure(_train(mmar_41))
    assert (
        "ValueError: The size of the proposed random crop ROI is larger than the image size"
        in output
    )
    assert "while applying transform RandCropByPosNegLabeld" in output


def test_unknown_component_is_refused_before_torch_is_imported(mmar_41):
    """The same message, from a real `clara train` process that never imports torch, MONAI
    or ignite (`-X importtime` lists every module imported: time-independent evidence)."""
    import subprocess
    import sys

    _edit(mmar_41, lambda c: c["train"]["pre_transforms"][0].update(name="LoadImaged_"))
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "clara_cli", "train", "-m", str(mmar_41)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1
    assert "train.pre_transforms[0].name: unknown transform 'LoadImaged_'." in done.stderr
    assert "Did you mean 'LoadImaged'" in done.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line]
    assert "clara_cli.mmar.early_check" in imported
    assert not [m for m in imported if m.split(".")[0] in ("torch", "monai", "ignite")]
