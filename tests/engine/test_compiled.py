"""Opt-in torch.compile of the training network: compiled where it works, eager with one
warning where it does not."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner

from clara_cli import families
from clara_cli.cli.main import cli
from clara_cli.engine.compiled import CompiledForward
from clara_cli.engine.network import NetworkPreparer
from clara_cli.engine.precision import AutocastForward


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv3d(1, 2, 3, padding=1), torch.nn.ReLU())


def _failing_backend(graph_module, example_inputs):
    raise RuntimeError("forced compile failure")


@pytest.fixture
def clara_log(caplog):
    caplog.set_level(logging.INFO, logger="clara")
    return caplog


def test_compile_failure_falls_back_to_eager_with_one_warning(clara_log):
    torch._dynamo.reset()
    net = _net()
    wrapped = CompiledForward(net, backend=_failing_backend)
    inputs = torch.randn(2, 1, 8, 8, 8)
    for _ in range(3):
        out = wrapped(inputs)
        torch.testing.assert_close(out, net(inputs), rtol=0, atol=0)
        out.sum().backward()  # gradients flow to the plain network's parameters
    assert wrapped.failed and wrapped.compile_seconds is None
    warnings = [r for r in clara_log.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "torch.compile failed" in warnings[0].getMessage()
    assert "forced compile failure" in warnings[0].getMessage()
    assert net[0].weight.grad is not None


def test_working_compile_reports_its_first_forward_separately(clara_log):
    torch._dynamo.reset()
    net = _net()
    wrapped = CompiledForward(net, backend="eager")  # dynamo capture without inductor codegen
    inputs = torch.randn(2, 1, 8, 8, 8)
    torch.testing.assert_close(wrapped(inputs), net(inputs))
    torch.testing.assert_close(wrapped(inputs), net(inputs))
    assert not wrapped.failed and wrapped.compile_seconds is not None
    assert "torch.compile: first forward took" in clara_log.text
    assert not [r for r in clara_log.records if r.levelno == logging.WARNING]
    # The plain network's weights only: checkpoints and optimizers see no compiled copy.
    assert list(wrapped.state_dict()) == ["module.0.weight", "module.0.bias"]


def test_preparer_compiles_training_networks_only(monkeypatch):
    import clara_cli.engine.network

    # The wiring only: inductor's import alone takes ~15 s and is not what is tested here.
    monkeypatch.setattr(
        clara_cli.engine.network,
        "CompiledForward",
        lambda module: CompiledForward(module, backend="eager"),
    )
    dist = SimpleNamespace(world_size=1, device=torch.device("cpu"))
    net = _net()
    preparer = NetworkPreparer(dist, torch.bfloat16, compile=True)
    trained = preparer(net, training=True)
    # Autocast stays outermost (the bf16 -> fp32 redo toggles it); compile inside it.
    assert isinstance(trained, AutocastForward) and isinstance(trained.module, CompiledForward)
    assert preparer(net, training=True).module is trained.module  # compiled once per network
    evaluated = preparer(net, training=False)
    assert isinstance(evaluated, AutocastForward) and evaluated.module is net
    assert NetworkPreparer(dist, None)(net, training=True) is net  # off by default


def test_train_compile_flag_sets_the_compile_variable(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(families, "run_for_archive", lambda *args: calls.append(args))
    (tmp_path / "config").mkdir()
    for flags, expected in (([], None), (["--compile"], True)):
        CliRunner().invoke(cli, ["train", "-m", str(tmp_path), *flags, "--set", "epochs=1"])
        request = calls[-1][1]
        assert request.overrides.get("compile") == expected
        assert request.overrides["epochs"] == 1


def test_compile_is_a_known_switch_and_mmar_pt2_a_known_path():
    from clara_cli.errors import OverrideError
    from clara_cli.mmar.set_values import check_overrides

    checked = check_overrides({"compile": True, "MMAR_PT2": "m.pt2"}, {}, [])
    assert checked == {"compile": True, "MMAR_PT2": "m.pt2"}
    with pytest.raises(OverrideError, match="true or false"):
        check_overrides({"compile": "yes"}, {}, [])
