"""Disabled means not resolved (issue 9): a component switched off by a `{var}` is skipped
before its variables and references are looked at, in every section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clara_cli.errors import ConfigError
from clara_cli.mmar.resolver import Runtime, Section

SOURCE = "config_train.json"

# Clara's finetuning switch: the loader names MMAR_CKPT, which environment.json may lack.
DISABLED_LOADER = {
    "name": "CheckpointLoader",
    "disabled": "{dont_load_ckpt_model}",
    "args": {"load_path": "{MMAR_CKPT}", "load_dict": {"model": "@no_such_key"}},
}
HANDLERS = [
    {"name": "StatsHandler", "args": {"iteration_log": "{log_iterations}"}},
    DISABLED_LOADER,
    {"name": "NoSuchHandler", "disabled": "{dont_load_ckpt_model}", "args": {"x": "{NOPE}"}},
]
VARIABLES = {"dont_load_ckpt_model": True, "log_iterations": False}


def _section(name: str, variables: dict, fallback: Section | None = None) -> Section:
    spec = {"handlers": HANDLERS}
    return Section(name, spec, SOURCE, Runtime(), {}, fallback=fallback, variables=variables)


def test_a_component_disabled_by_a_variable_is_skipped_unresolved_in_train_and_validate():
    from monai.handlers import StatsHandler

    train = _section("train", VARIABLES)
    validate = _section("validate", VARIABLES, fallback=train)
    for section in (train, validate):
        handlers = section.get("handlers")
        assert [type(h) for h in handlers] == [StatsHandler]
        assert handlers[0].iteration_log is False


def test_the_same_component_switched_on_needs_its_variables_and_says_where():
    train = _section("train", {**VARIABLES, "dont_load_ckpt_model": False})
    with pytest.raises(ConfigError) as info:
        train.get("handlers")
    message = str(info.value)
    assert f"{SOURCE}: train.handlers[1].args.load_path: unresolved variable {{MMAR_CKPT}}" in (
        message
    )
    assert "--set MMAR_CKPT=" in message


def test_a_disabled_key_metric_in_the_clara_40_metrics_list_is_not_resolved():
    spec = {
        "metrics": [
            {"name": "Nope", "log_label": "off", "disabled": "{off}", "args": {"x": "{NOPE}"}},
            {"name": "MeanDice", "log_label": "val_mean_dice", "is_key_metric": True},
        ]
    }
    section = Section("validate", spec, SOURCE, Runtime(), {}, variables={"off": "true"})
    assert list(section.get("key_metric")) == ["val_mean_dice"]
    assert section.get_optional("additional_metrics") is None


def _validation_mmar(root: Path, env: dict) -> Path:
    (root / "config").mkdir(parents=True)
    config = {
        "dont_load_ts_model": True,
        "dont_load_ckpt_model": False,
        "model": [
            {"ts_path": "{MMAR_TORCHSCRIPT}", "disabled": "{dont_load_ts_model}"},
            {"ckpt_path": "{MMAR_CKPT}", "disabled": "{dont_load_ckpt_model}"},
        ],
        "inferer": {"name": "SimpleInferer"},
        "evaluator": {"name": "SupervisedEvaluator", "args": {"network": "@model"}},
    }
    (root / "config" / "config_validation.json").write_text(json.dumps(config))
    (root / "config" / "environment.json").write_text(json.dumps(env))
    return root


def test_a_validation_config_skips_a_disabled_model_loader_without_its_variable(tmp_path):
    from clara_cli.workflows.sections import evaluation_section
    from clara_cli.workflows.session import RunRequest, open_session

    # environment.json has MMAR_CKPT but no MMAR_TORCHSCRIPT: the disabled TorchScript
    # loader must not need it; the checkpoint loader is the one used.
    root = _validation_mmar(tmp_path / "mmar", {"MMAR_CKPT": "models/model.pt"})
    session = open_session(RunRequest(root, "config/config_validation.json", device="cpu"))
    assert session.conf["model"][0] == {"ts_path": "{MMAR_TORCHSCRIPT}", "disabled": True}
    assert session.conf["model"][1]["ckpt_path"] == str(root.resolve() / "models/model.pt")
    with pytest.raises(ConfigError, match=r"checkpoint not found: .*models/model\.pt"):
        evaluation_section(session)


def test_an_enabled_model_loader_still_needs_its_variable(tmp_path):
    from clara_cli.workflows.sections import evaluation_section
    from clara_cli.workflows.session import RunRequest, open_session

    root = _validation_mmar(tmp_path / "mmar", {"MMAR_CKPT": "models/model.pt"})
    request = RunRequest(
        root, "config/config_validation.json", overrides={"dont_load_ts_model": False}
    )
    session = open_session(request)
    with pytest.raises(ConfigError, match=r"model\[0\].ts_path: unresolved variable"):
        evaluation_section(session)


@pytest.mark.slow
def test_train_then_validate_with_disabled_loaders_whose_variables_are_unset(mmar_41):
    """Issue 9's report: a disabled CheckpointLoader on {MMAR_CKPT} stopped the run when
    environment.json had no MMAR_CKPT; a disabled TorchScript loader likewise."""
    from click.testing import CliRunner

    from clara_cli.cli.main import cli
    from clara_cli.engine.checkpoint import load_checkpoint

    config_file = mmar_41 / "config" / "config_train.json"
    config = json.loads(config_file.read_text())
    config["dont_load_ckpt_model"] = True
    config["train"]["handlers"].append(DISABLED_LOADER)
    config_file.write_text(json.dumps(config))
    env_file = mmar_41 / "config" / "environment.json"
    env = json.loads(env_file.read_text())
    for name in ("MMAR_CKPT", "MMAR_TORCHSCRIPT"):
        env.pop(name)
    env_file.write_text(json.dumps(env))

    runner = CliRunner()
    result = runner.invoke(cli, ["train", "-m", str(mmar_41), "--set", "epochs=1"])
    assert result.exit_code == 0, result.output
    checkpoint = load_checkpoint(mmar_41 / "models" / "model.pt")
    saved_handlers = checkpoint["train_conf"]["train"]["handlers"]
    assert saved_handlers[-1] == {**DISABLED_LOADER, "disabled": True}  # kept as written

    ckpt = str(mmar_41 / "models" / "model.pt")
    result = runner.invoke(cli, ["validate", "-m", str(mmar_41), "--set", f"MMAR_CKPT={ckpt}"])
    assert result.exit_code == 0, result.output
    assert (mmar_41 / "eval").is_dir()
