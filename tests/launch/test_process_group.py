"""Launcher detection (torchrun, SLURM) and the single-process behaviour of the helpers."""

from __future__ import annotations

import pytest
import torch

from clara_cli.errors import DistributedError
from clara_cli.launch.process_group import (
    DistContext,
    all_gather_objects,
    detect_launch_env,
    init_distributed,
    shutdown,
)

_LAUNCH_VARS = (
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
    "SLURM_PROCID",
    "SLURM_NTASKS",
    "SLURM_LOCALID",
    "SLURM_LAUNCH_NODE_IPADDR",
    "SLURM_JOB_ID",
)


@pytest.fixture
def clean_env(monkeypatch):
    for name in _LAUNCH_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_no_launcher_means_none(clean_env):
    assert detect_launch_env() is None


def test_torchrun_variables_are_read(clean_env):
    env = {
        "RANK": "3",
        "WORLD_SIZE": "4",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "10.1.2.3",
        "MASTER_PORT": "29501",
    }
    assert detect_launch_env(env) == {
        "launcher": "torchrun",
        "rank": 3,
        "world_size": 4,
        "local_rank": 1,
        "master_addr": "10.1.2.3",
        "master_port": 29501,
    }


def test_torchrun_wins_over_slurm(clean_env):
    env = {"RANK": "1", "WORLD_SIZE": "2", "SLURM_PROCID": "0", "SLURM_NTASKS": "8"}
    assert detect_launch_env(env)["launcher"] == "torchrun"


def test_slurm_variables_are_read_with_the_launch_node_as_master():
    env = {
        "SLURM_PROCID": "5",
        "SLURM_NTASKS": "8",
        "SLURM_LOCALID": "1",
        "SLURM_LAUNCH_NODE_IPADDR": "192.168.0.7",
        "SLURM_JOB_ID": "123456",
    }
    found = detect_launch_env(env)
    assert found["launcher"] == "slurm"
    assert (found["rank"], found["world_size"], found["local_rank"]) == (5, 8, 1)
    assert found["master_addr"] == "192.168.0.7"
    assert found["master_port"] == 15000 + 123456 % 20000  # the same on every task
    assert detect_launch_env(env, master_addr="node01")["master_addr"] == "node01"
    assert detect_launch_env({**env, "MASTER_PORT": "4000"})["master_port"] == 4000


def test_a_single_slurm_task_is_not_a_launch():
    assert detect_launch_env({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"}) is None


def test_slurm_without_a_master_address_is_a_clear_error():
    with pytest.raises(DistributedError, match="master address is unknown"):
        detect_launch_env({"SLURM_PROCID": "0", "SLURM_NTASKS": "2"})


def test_malformed_variables_are_named():
    with pytest.raises(DistributedError, match="RANK must be an integer, not 'x'"):
        detect_launch_env({"RANK": "x", "WORLD_SIZE": "2"})


def test_single_process_has_no_process_group(clean_env):
    ctx = init_distributed("cpu")
    assert ctx == DistContext(0, 1, 0, torch.device("cpu"), None)
    assert ctx.is_main and not ctx.is_distributed
    assert not torch.distributed.is_initialized()
    assert all_gather_objects(ctx, {"a": 1}) == [{"a": 1}]
    shutdown(ctx)


def test_a_launcher_with_world_size_one_starts_no_group(clean_env):
    clean_env.setenv("RANK", "0")
    clean_env.setenv("WORLD_SIZE", "1")
    ctx = init_distributed("auto")
    assert ctx.world_size == 1 and ctx.backend is None
    shutdown(ctx)
    assert not torch.distributed.is_initialized()


def test_single_process_cuda_device_index_is_kept(clean_env, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert init_distributed("cuda:1").device == torch.device("cuda", 1)
    assert init_distributed("cuda").device == torch.device("cuda", 0)


def test_cuda_request_without_cuda_says_to_use_cpu(clean_env, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DistributedError, match="--device cpu"):
        init_distributed("cuda")
    with pytest.raises(DistributedError, match="'auto', 'cuda' or 'cpu'"):
        init_distributed("tpu")


def test_a_single_process_group_can_be_joined_and_left(clean_env):
    clean_env.setenv("RANK", "0")
    clean_env.setenv("WORLD_SIZE", "1")
    # A process group of one, started by someone else (e.g. a notebook), is described as is.
    torch.distributed.init_process_group(
        "gloo", init_method="tcp://127.0.0.1:0", rank=0, world_size=1
    )
    try:
        ctx = init_distributed("cpu")
        assert ctx.is_distributed and ctx.backend == "gloo" and ctx.world_size == 1
        assert all_gather_objects(ctx, 5) == [5]
    finally:
        shutdown(ctx)
    assert not torch.distributed.is_initialized()
