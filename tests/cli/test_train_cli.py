"""`clara train` / `clara validate`: launch options, their messages, and light start-up."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from clara_cli import families
from clara_cli.cli.main import cli
from clara_cli.launch import jobs

SPLEEN = Path(__file__).parents[2] / "mmars" / "clara_pt_spleen_ct_segmentation"
LAUNCH_FLAGS = ("--gpus", "--nproc", "--nnodes", "--node-rank", "--master-addr", "--master-port")


@pytest.fixture
def no_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    for name in ("RANK", "WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def captured(monkeypatch):
    """Replace the job runner: record what the command asked for, run nothing."""
    calls = []
    monkeypatch.setattr(families, "run_for_archive", lambda *args: calls.append(args))
    return calls


@pytest.mark.parametrize("command", ["train", "validate"])
def test_help_lists_the_launch_options(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    for flag in (*LAUNCH_FLAGS, "--rdzv-endpoint"):
        assert flag in result.output
    assert ("--resume" in result.output) == (command == "train")


def test_gpus_on_a_machine_without_gpus_says_how_to_use_the_cpu(no_gpus):
    result = CliRunner().invoke(cli, ["train", "-m", str(SPLEEN), "--gpus", "2"])
    assert result.exit_code == 1
    assert "Error: --gpus 2 asks for 2 GPUs but none is visible" in result.output
    assert "--device cpu --gpus 2" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["train", "validate", "infer"])
def test_gpus_and_nproc_together_are_a_usage_error(no_gpus, command):
    args = [command, "-m", str(SPLEEN), "--device", "cpu", "--gpus", "2", "--nproc", "2"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "Error: --gpus 2 and --nproc 2 both set the number of processes" in result.output
    assert f"Usage: cli {command}" in result.output


def test_zero_processes_is_a_usage_error():
    result = CliRunner().invoke(cli, ["train", "-m", str(SPLEEN), "--nproc", "0"])
    assert result.exit_code == 2
    assert "--nproc" in result.output


def test_two_nodes_without_a_port_are_refused_before_starting(no_gpus):
    args = ["train", "-m", str(SPLEEN), "--device", "cpu", "--nproc", "2", "--nnodes", "2"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "--nnodes 2 needs --master-port" in result.output


def test_options_reach_the_job_runner(captured):
    args = [
        "train",
        "-m",
        str(SPLEEN),
        "--device",
        "cpu",
        "--nproc",
        "2",
        "--nnodes",
        "2",
        "--node-rank",
        "1",
        "--master-addr",
        "10.0.0.1",
        "--master-port",
        "29400",
        "--resume",
        "--set",
        "epochs=3",
        "amp=false",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    (kind, request, train_options, options, debug) = captured[0]
    assert kind == "train" and train_options.resume and request.device == "cpu"
    assert request.overrides == {"epochs": 3, "amp": False}
    assert options == jobs.LaunchOptions(
        nproc=2, nnodes=2, node_rank=1, master_addr="10.0.0.1", master_port=29400
    )
    assert result.output == ""  # a process that is not rank 0 prints nothing
