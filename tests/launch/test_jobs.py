"""How many processes a run gets and how they are started (no process is started here):
`run_command` reads the config once, `plan_job` lays out the processes, `run_job` runs the
worker here or hands it to the launcher."""

from __future__ import annotations

import json
import logging
import os

import pytest
import torch

from clara_cli.errors import DistributedError
from clara_cli.launch import jobs
from clara_cli.launch import spawn as launch
from clara_cli.launch.jobs import LaunchOptions
from clara_cli.workflows import runner
from clara_cli.workflows.session import RunRequest


def run_job(kind, request, options=None):
    return runner.run_command(kind, request, None, options)


_LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID")


@pytest.fixture(autouse=True)
def no_launcher(monkeypatch):
    """Tests start outside torchrun/srun, and never really run a workflow or spawn."""
    for name in (*_LAUNCH_VARS, "MASTER_ADDR", "MASTER_PORT", "SLURM_LAUNCH_NODE_IPADDR"):
        monkeypatch.setenv(name, "")  # so that teardown restores what was there (or nothing)
        monkeypatch.delenv(name)
    calls = {"here": [], "launch": []}

    def run_here(workflow, request, options, setup):
        calls["here"].append((workflow.name, request))
        return f"{workflow.name} result"

    def fake_launch(spec, entrypoint, *args):
        calls["launch"].append((spec, entrypoint, args))
        return ["rank 0 result"] + [None] * (spec.nproc_per_node - 1)

    monkeypatch.setattr(runner, "run_workflow", run_here)
    monkeypatch.setattr(launch, "launch", fake_launch)
    return calls


def _no_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def _request(tmp_path, device="auto", **variables):
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / "config_train.json").write_text(json.dumps(variables))
    return RunRequest(tmp_path, "config/config_train.json", device=device)


def test_one_process_by_default_runs_here(tmp_path, no_launcher, monkeypatch):
    _no_gpus(monkeypatch)
    assert run_job("train", _request(tmp_path)) == "train result"
    assert no_launcher["launch"] == []
    assert no_launcher["here"][0][1].device == "cpu"  # "auto" resolved once, for every rank


def test_cpu_processes_with_gpus_or_nproc(tmp_path, no_launcher, monkeypatch):
    _no_gpus(monkeypatch)
    for options in (LaunchOptions(gpus=2), LaunchOptions(nproc=2)):
        device = "cpu" if options.gpus else "auto"
        assert run_job("validate", _request(tmp_path, device), options) == "rank 0 result"
    specs = [spec for spec, _, _ in no_launcher["launch"]]
    assert [(s.nproc_per_node, s.device) for s in specs] == [(2, "cpu"), (2, "cpu")]
    spec, entrypoint, args = no_launcher["launch"][0]
    assert entrypoint is jobs.run_worker  # a top-level function the launcher can pickle
    worker, (workflow, request, _options, _setup), _debug = args
    assert workflow.name == "validate" and request.device == "cpu"


def test_asking_for_gpus_that_are_not_there_says_how_to_use_the_cpu(tmp_path, monkeypatch):
    _no_gpus(monkeypatch)
    with pytest.raises(DistributedError) as info:
        run_job("train", _request(tmp_path), LaunchOptions(gpus=2))
    assert "--gpus 2 asks for 2 GPUs but none is visible" in str(info.value)
    assert "--device cpu --gpus 2" in str(info.value)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(DistributedError, match="only 1 is visible"):
        run_job("train", _request(tmp_path), LaunchOptions(nproc=2))


def test_gpus_and_nproc_together_are_refused(tmp_path):
    with pytest.raises(DistributedError, match="give one of them"):
        run_job("train", _request(tmp_path), LaunchOptions(gpus=2, nproc=2))


def test_multi_node_options_reach_the_launcher(tmp_path, no_launcher, monkeypatch):
    _no_gpus(monkeypatch)
    options = LaunchOptions(
        nproc=2, nnodes=2, node_rank=1, master_addr="10.0.0.1", master_port=29400
    )
    result = run_job("train", _request(tmp_path, "cpu"), options)
    spec = no_launcher["launch"][0][0]
    assert (spec.nnodes, spec.node_rank, spec.master_addr, spec.master_port) == (
        2,
        1,
        "10.0.0.1",
        29400,
    )
    assert result == "rank 0 result"

    run_job("train", _request(tmp_path, "cpu"), LaunchOptions(nnodes=2, rdzv_endpoint="head:29400"))
    spec = no_launcher["launch"][1][0]
    assert spec.rdzv_endpoint == "head:29400" and spec.nproc_per_node == 1


def test_multi_gpu_true_uses_every_visible_gpu(tmp_path, no_launcher, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    run_job("train", _request(tmp_path, multi_gpu=True))
    spec = no_launcher["launch"][0][0]
    assert (spec.nproc_per_node, spec.device) == (4, "cuda")


def test_multi_gpu_true_without_gpus_runs_one_process_with_a_notice(
    tmp_path, no_launcher, monkeypatch, caplog
):
    _no_gpus(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="clara"):
        assert run_job("train", _request(tmp_path, multi_gpu="{flag}", flag=True)) == "train result"
    assert "multi_gpu: true, but no GPU is in use: running one process" in caplog.text
    assert "--device cpu --nproc N" in caplog.text
    assert no_launcher["launch"] == []


def test_under_torchrun_the_process_runs_its_rank_and_never_spawns(
    tmp_path, no_launcher, monkeypatch
):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    # --gpus is what the user typed for torchrun's benefit; it must not spawn again.
    result = run_job("train", _request(tmp_path), LaunchOptions(gpus=2))
    assert no_launcher["launch"] == [] and len(no_launcher["here"]) == 1
    assert result is None  # rank 1 does not report

    monkeypatch.setenv("RANK", "0")
    assert run_job("train", _request(tmp_path)) == "train result"


def test_under_srun_the_master_options_reach_the_worker(tmp_path, no_launcher, monkeypatch):
    monkeypatch.setenv("SLURM_PROCID", "0")
    monkeypatch.setenv("SLURM_NTASKS", "4")
    monkeypatch.setenv("SLURM_LOCALID", "0")
    options = LaunchOptions(master_addr="node-a", master_port=23456)
    assert run_job("train", _request(tmp_path), options) == "train result"
    assert no_launcher["launch"] == []
    request = no_launcher["here"][0][1]
    assert (request.master_addr, request.master_port) == ("node-a", 23456)
    assert "MASTER_ADDR" not in os.environ  # passed as arguments, not through the environment

    from clara_cli.launch.process_group import detect_launch_env

    found = detect_launch_env(master_addr=request.master_addr, master_port=request.master_port)
    assert (found["master_addr"], found["master_port"]) == ("node-a", 23456)


def test_a_missing_config_fails_before_any_worker_starts(tmp_path, no_launcher, monkeypatch):
    from clara_cli.errors import ConfigError

    _no_gpus(monkeypatch)
    (tmp_path / "config").mkdir()
    request = RunRequest(tmp_path, "config/config_trian.json", device="cpu")
    with pytest.raises(ConfigError, match="config file not found"):
        run_job("train", request, LaunchOptions(nproc=2))
    assert no_launcher["launch"] == []


def test_the_config_is_read_once_and_travels_to_the_workers(tmp_path, no_launcher, monkeypatch):
    from clara_cli.mmar import loader

    _no_gpus(monkeypatch)
    reads = []
    original = loader.load_json
    monkeypatch.setattr(loader, "load_json", lambda path: reads.append(path) or original(path))
    run_job("validate", _request(tmp_path, "cpu", multi_gpu=False), LaunchOptions(nproc=2))
    (_spec, _entry, (_worker, (_wf, request, _options, _setup), _debug)) = no_launcher["launch"][0]
    assert request.mmar is not None  # workers reuse it: no second read
    assert [p.name for p in reads] == ["config_train.json"]
