from __future__ import annotations

from click.testing import CliRunner

from clara_cli.cli.main import cli


def test_synth_spleen_writes_and_refuses_to_overwrite(tmp_path):
    runner = CliRunner()
    out = tmp_path / "spleen"
    args = ["synth", "spleen", "-o", str(out), "-n", "3", "--size", "32", "--seed", "2"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"Datalist: {out / 'dataset_0.json'}" in result.output
    assert len(list((out / "imagesTr").iterdir())) == 3

    again = runner.invoke(cli, args)
    assert again.exit_code == 1
    assert "Error: output folder" in again.output and "not empty" in again.output

    forced = runner.invoke(cli, [*args, "--force"])
    assert forced.exit_code == 0, forced.output


def test_synth_group_lists_spleen():
    result = CliRunner().invoke(cli, ["synth", "--help"])
    assert result.exit_code == 0
    assert "spleen" in result.output


def test_synth_spleen_rejects_bad_counts(tmp_path):
    result = CliRunner().invoke(cli, ["synth", "spleen", "-o", str(tmp_path), "-n", "1"])
    assert result.exit_code == 2
