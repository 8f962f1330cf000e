"""`clara check` over the real Clara 4.x archives of the conformance corpus: every config
resolves (or, for whole-slide pathology, is refused naming the missing package), nothing is
built, and what would stop a run is listed with its file and key path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from clara_cli.cli.main import cli
from clara_cli.families import load_families
from clara_cli.workflows.check import check_archive

RUNNABLE = ("automl", "deepgrow_2D", "fl_privacy")


def _check(archive: Path, sets: dict[str, str], *extra: str):
    args = ["check", "-m", str(archive), *extra]
    if sets:
        args += ["--set", *(f"{k}={v}" for k, v in sets.items())]
    return CliRunner().invoke(cli, args)


@pytest.mark.parametrize("name", RUNNABLE)
def test_every_config_of_a_runnable_archive_passes(corpus, name, stand_ins):
    result = _check(corpus / name, stand_ins)
    assert result.exit_code == 0, result.output
    assert "error:" not in result.output
    configs = sorted(p.name for p in (corpus / name / "config").glob("config*.json"))
    configs += sorted(p.name for p in (corpus / name / "config").glob("trn_*.json"))
    for config in configs:  # each one is listed: checked, or skipped with the reason
        assert f"config/{config}:" in result.output
    assert "Traceback" not in result.output


def test_components_are_listed_with_their_class_and_shims(corpus, stand_ins):
    result = _check(corpus / "deepgrow_2D", stand_ins, "-c", "config/config_train.json")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "train.model: monai.networks.nets.basic_unet.BasicUNet(" in out
    assert "shim: BasicUnet: 'dimensions' is MONAI 0.x; using spatial_dims=2" in out
    assert "shim: path 'deepgrow.interaction.ClickInteraction' is Clara-internal" in out
    assert "train.handlers[0]: CheckpointLoader (disabled)" in out
    # The family's handler stands in for Clara's internal one.
    assert "clara_cli.families.deepgrow.stats_handler.DeepgrowStatsHandler" in out
    assert out.rstrip().endswith("ok: 1 config(s) resolve")


def test_the_custom_module_of_an_archive_imports_with_monai_0x_names(corpus, stand_ins):
    # custom/deepgrow/handler.py imports monai.metrics.compute_meandice (gone since MONAI 1.0).
    result = _check(corpus / "deepgrow_2D", stand_ins, "-c", "config/config_validation.json")
    assert result.exit_code == 0, result.output
    assert "handlers[3]: deepgrow.handler.SegmentationSaver(" in result.output


def test_automl_search_blocks_are_said_once_and_controller_configs_skipped(corpus, stand_ins):
    result = _check(corpus / "automl", stand_ins)
    assert result.exit_code == 0, result.output
    assert result.output.count("AutoML 'search' blocks are ignored") == 1
    assert "trn_autoML_LR_LP.json (" in result.output
    skipped = "skipped: an AutoML controller config (clara does not run AutoML)"
    assert result.output.count(skipped) == 3  # config_automl*.json


def test_pathology_is_refused_naming_the_whole_slide_reader(corpus, stand_ins):
    result = _check(corpus / "pathology", stand_ins)
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("  error:")]
    configs = list((corpus / "pathology" / "config").glob("config_*.json"))
    assert len(errors) == len(configs) == 4  # one refusal per config, nothing else
    for line in errors:
        assert "reads whole-slide images with cuCIM, which is not installed" in line
        assert "pip install cucim" in line
    assert result.output.splitlines()[-1].startswith("Error: 4 problem(s) in 4 of 4 config(s): ")
    assert all(config.name in result.output.splitlines()[-1] for config in configs)


def test_missing_files_are_errors_with_a_hint(corpus, tmp_path):
    # The archive as shipped: its datalist and models are on NVIDIA's machines.
    result = _check(corpus / "deepgrow_2D", {}, "-q")
    assert result.exit_code == 1
    out = result.output
    assert (
        "train.dataset.data_list_file_path: datalist "
        "/claraDevDay/Data/tmp4Deepgrow_2DDataPrep/dataset_0.json does not exist" in out
    )
    assert "set DATASET_JSON (and DATA_ROOT) with --set" in out
    ts = corpus / "deepgrow_2D" / "models" / "model.ts"
    assert f"model: TorchScript model {ts} does not exist" in out
    assert "export first (clara export)" in out
    assert "  train.model:" not in out  # -q: problems only


def test_a_switched_on_checkpoint_loader_needs_its_file(corpus, stand_ins, tmp_path):
    sets = {**stand_ins, "dont_load_ckpt_model": "false", "MMAR_CKPT": str(tmp_path / "no.pt")}
    result = _check(corpus / "deepgrow_2D", sets, "-q", "-c", "config/config_train.json")
    assert result.exit_code == 1
    assert f"train.handlers[0].args.load_path: checkpoint {tmp_path / 'no.pt'} does not" in (
        result.output
    )


def test_relative_set_paths_resolve_against_the_archive_not_the_cwd(
    corpus, stand_ins, tmp_path, monkeypatch
):
    import shutil

    archive = Path(shutil.copytree(corpus / "deepgrow_2D", tmp_path / "dg2d"))
    (archive / "models").mkdir()
    (archive / "models" / "model.pt").write_bytes(b"")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "models").mkdir(parents=True)
    (elsewhere / "models" / "other.pt").write_bytes(b"")  # must not be found through the cwd
    monkeypatch.chdir(elsewhere)
    sets = {k: v for k, v in stand_ins.items() if k != "MMAR_CKPT"}
    sets["dont_load_ckpt_model"] = "false"
    found = _check(
        archive, {**sets, "MMAR_CKPT": "models/model.pt"}, "-q", "-c", "config/config_train.json"
    )
    assert found.exit_code == 0, found.output
    missing = _check(
        archive, {**sets, "MMAR_CKPT": "models/other.pt"}, "-q", "-c", "config/config_train.json"
    )
    assert missing.exit_code == 1
    assert f"checkpoint {archive / 'models' / 'other.pt'} does not exist" in missing.output


def _write_mmar(root: Path, config: dict) -> Path:
    (root / "config").mkdir(parents=True)
    (root / "config" / "config_train.json").write_text(json.dumps(config), encoding="utf-8")
    (root / "config" / "environment.json").write_text("{}", encoding="utf-8")
    return root


def test_unknown_names_unresolved_variables_and_missing_custom_code(tmp_path):
    mmar = _write_mmar(
        tmp_path / "mmar",
        {
            "train": {
                "loss": {"name": "DiceLos"},
                "optimizer": {"name": "Adam", "args": {"lr": "{learning_rat}"}},
                "model": {"path": "mynets.Net"},
                "trainer": {"name": "SupervisedTrainer", "args": {"max_epochs": 1}},
            }
        },
    )
    result = _check(mmar, {}, "-q")
    assert result.exit_code == 1
    out = result.output
    assert "train.loss.name: unknown loss 'DiceLos'" in out and "Did you mean 'DiceLoss'" in out
    assert "unresolved variable {learning_rat}" in out
    assert "train.model.path: cannot import 'mynets'" in out
    assert "Traceback" not in out


def test_a_datalist_named_explicitly_is_not_a_workflow_config(corpus):
    result = _check(corpus / "deepgrow_2D", {}, "-c", "config/dataset_5.json")
    assert result.exit_code == 1
    assert "a datalist, not a workflow config: expected a workflow config" in result.output


def test_checking_the_whole_corpus_builds_no_module(corpus, stand_ins, count_modules):
    load_families()
    reports = [check_archive(corpus / name, overrides=stand_ins) for name in RUNNABLE]
    assert all(report.ok for report in reports), [r.problems for r in reports]
    resolved = [c for r in reports for c in r.configs if c.resolved is not None]
    assert len(resolved) == 10  # 5 AutoML trials, deepgrow's 3, fl_privacy's 2
    assert count_modules == []


def test_a_folder_without_config_is_not_an_archive(tmp_path):
    result = CliRunner().invoke(cli, ["check", "-m", str(tmp_path)])
    assert result.exit_code == 2
    assert "is not an MMAR: it has no config/ folder" in result.output
