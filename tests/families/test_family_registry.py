"""Model families as plugins: discovery, claiming an archive, phantoms on `clara synth`, and
workflows a family substitutes for a command."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from clara_cli import families
from clara_cli.cli.main import cli
from clara_cli.errors import ConfigError
from clara_cli.families import Family, Phantom, PhantomRequest
from clara_cli.workflows import base


@pytest.fixture
def isolated(monkeypatch):
    """A family registry and workflow registry that tests can add to without leaking."""
    monkeypatch.setattr(families, "_FAMILIES", dict(families.load_families()))
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))


@dataclass(frozen=True)
class _Options:
    note: str = "default"


class _EchoWorkflow:
    name = "echo_validate"
    command = "validate"
    default_config = "config/config_validation.json"
    options_type = _Options

    def run(self, request, options):
        return ("echo", options.note)


class _EchoInfer(_EchoWorkflow):
    name = "echo_infer"
    command = "infer"


ECHO_INFER = _EchoInfer()


def _register_echo() -> None:
    base.register_workflow(_EchoWorkflow())


def _write_toy(request: PhantomRequest) -> Path:
    request.output_dir.mkdir(parents=True, exist_ok=True)
    path = request.output_dir / "dataset_0.json"
    path.write_text(f'{{"seed": {request.seed}, "size": {request.size}}}')
    return path


TOY = Family(
    name="toy",
    description="a test family",
    phantoms=(Phantom("toy", "Toy phantoms.", f"{__name__}:_write_toy", default_size=20),),
    workflows={"validate": "echo_validate", "infer": f"{__name__}:ECHO_INFER"},
    processing_tasks=("toytask",),
    register=f"{__name__}:_register_echo",
)


def test_the_spleen_family_is_found_with_its_phantom():
    assert "spleen" in families.load_families()
    assert families.phantoms()["spleen"].generate.endswith(":synthesize")


def test_an_archive_is_claimed_by_name_or_by_clara_processing_task(isolated):
    families.add_family(TOY)
    assert families.family_for({"CLARA_FAMILY": "toy"}) is TOY
    assert families.family_for({"PROCESSING_TASK": "ToyTask"}) is TOY
    assert families.family_for({"PROCESSING_TASK": "segmentation"}) is None
    with pytest.raises(ConfigError, match="no model family named 'nope'"):
        families.family_for({"CLARA_FAMILY": "nope"})


def test_a_family_substitutes_its_workflow_for_a_command(isolated):
    families.add_family(TOY)
    chosen = families.workflow_for("validate", {"CLARA_FAMILY": "toy"})
    assert chosen.name == "echo_validate"  # registered by name in the family's register hook
    assert chosen.run(None, chosen.options_type("typed")) == ("echo", "typed")
    assert families.workflow_for("infer", {"CLARA_FAMILY": "toy"}) is ECHO_INFER  # by path
    assert families.workflow_for("train", {"CLARA_FAMILY": "toy"}).name == "train"
    assert families.workflow_for("validate", {}).name == "validate"


def test_workers_get_the_workflow_object_and_load_the_families_first(isolated, monkeypatch):
    from clara_cli.launch import jobs
    from clara_cli.workflows import runner

    calls = []
    monkeypatch.setattr(jobs, "run_job", lambda plan, worker, args, debug: calls.append(args))
    monkeypatch.setattr(runner, "run_job", jobs.run_job)

    class _Request:
        device = "cpu"
        mmar = None
        overrides: dict = {}

        def load(self):
            from types import SimpleNamespace

            return SimpleNamespace(
                variables={"CLARA_FAMILY": "toy"}, config={}, config_file="c.json"
            )

    families.add_family(TOY)
    monkeypatch.setattr(runner, "replace", lambda request, **changes: request)
    monkeypatch.setattr(runner, "_writes_record", lambda plan: False)  # a fake archive
    families.run_for_archive("infer", _Request())
    workflow, _request, options, setup = calls[0]
    assert workflow is ECHO_INFER and options == _Options()
    assert setup is families.load_families


def test_two_families_cannot_share_a_name_or_a_phantom(isolated):
    families.add_family(TOY)
    with pytest.raises(ValueError, match="two model families"):
        families.add_family(Family(name="toy", description="again"))
    clash = Family(name="other", description="x", phantoms=(Phantom("toy", "x", "m:f"),))
    with pytest.raises(ValueError, match="already written by family 'toy'"):
        families.add_family(clash)


def test_unknown_workflow_lists_the_registered_ones():
    with pytest.raises(ConfigError, match="registered: .*export.*infer.*train.*validate"):
        base.get_workflow("tarin")


def test_every_phantom_is_a_synth_subcommand(isolated, tmp_path):
    families.add_family(TOY)
    runner = CliRunner()
    listing = runner.invoke(cli, ["synth", "--help"])
    assert listing.exit_code == 0 and "spleen" in listing.output and "toy" in listing.output
    result = runner.invoke(cli, ["synth", "toy", "-o", str(tmp_path / "t"), "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "t" / "dataset_0.json").read_text() == '{"seed": 5, "size": 20}'
    assert runner.invoke(cli, ["synth", "tyo", "-o", str(tmp_path)]).exit_code == 2


def test_builtin_workflows_have_typed_options():
    from clara_cli.workflows.infer import InferOptions
    from clara_cli.workflows.train import TrainOptions

    assert base.get_workflow("train").options_type is TrainOptions
    assert base.get_workflow("infer").options_type is InferOptions
    assert base.get_workflow("validate").default_config == "config/config_validation.json"
