"""Multi-process launch on CPU (gloo): results per rank, one clear error when a rank fails."""

from __future__ import annotations

import logging
import os
import signal
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch

from clara_cli.errors import DistributedError
from clara_cli.launch import spawn as launch_mod
from clara_cli.launch.process_group import (
    all_gather_objects,
    detect_launch_env,
    init_distributed,
    shutdown,
    silence_other_ranks,
)
from clara_cli.launch.spawn import LaunchSpec, check_gpus, launch

# Worker entrypoints must be top-level functions: the launcher pickles them by name.


@contextmanager
def distributed(device: str) -> Iterator:
    """Join the launcher's process group for the body of a test worker, then leave it."""
    ctx = init_distributed(device)
    try:
        yield ctx
    finally:
        shutdown(ctx)


def already_launched() -> bool:
    return detect_launch_env() is not None


def toy_all_reduce(offset: int) -> dict:
    with distributed("cpu") as ctx:
        value = torch.tensor([float(ctx.rank + offset)])
        torch.distributed.all_reduce(value)
        return {
            "rank": ctx.rank,
            "world_size": ctx.world_size,
            "backend": ctx.backend,
            "sum": value.item(),
            "gathered": all_gather_objects(ctx, f"r{ctx.rank}"),
            "launched": already_launched(),
        }


def toy_one_rank_raises(bad_rank: int) -> int:
    with distributed("cpu") as ctx:
        if ctx.rank == bad_rank:
            raise ValueError(f"synthetic failure on rank {ctx.rank}")
        # The healthy rank blocks here, waiting for a peer that will never arrive.
        torch.distributed.all_reduce(torch.ones(1))
        return ctx.rank


def toy_one_rank_has_a_bad_case(bad_rank: int) -> int:
    from clara_cli.errors import DataError

    with distributed("cpu") as ctx:
        if ctx.rank == bad_rank:
            try:
                raise OSError("Compressed file ended before the end-of-stream marker")
            except OSError as err:
                raise DataError("/data/case_7.nii.gz: the file cannot be read") from err
        torch.distributed.all_reduce(torch.ones(1))
        return ctx.rank


def toy_raises_inside_try_finally(bad_rank: int) -> int:
    # The shape of the real workflows: shutdown() in a finally block.
    ctx = init_distributed("cpu")
    try:
        if ctx.rank == bad_rank:
            raise KeyError("missing_key")
        torch.distributed.all_reduce(torch.ones(1))
        return ctx.rank
    finally:
        shutdown(ctx)


def toy_one_rank_killed(bad_rank: int) -> int:
    with distributed("cpu") as ctx:
        if ctx.rank == bad_rank:
            os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would
        torch.distributed.all_reduce(torch.ones(1))
        return ctx.rank


@pytest.mark.slow
def test_two_cpu_workers_all_reduce_and_return_per_rank_values():
    results = launch(LaunchSpec(nproc_per_node=2, device="cpu"), toy_all_reduce, 10)

    assert [r["rank"] for r in results] == [0, 1]
    assert all(r["world_size"] == 2 and r["backend"] == "gloo" for r in results)
    assert [r["sum"] for r in results] == [21.0, 21.0]  # (0 + 10) + (1 + 10)
    assert [r["gathered"] for r in results] == [["r0", "r1"], ["r0", "r1"]]
    assert all(r["launched"] for r in results)  # workers must not spawn again


@pytest.mark.slow
def test_one_rank_raising_fails_the_job_once_and_quickly():
    start = time.monotonic()
    with pytest.raises(DistributedError) as info:
        launch(LaunchSpec(nproc_per_node=2, device="cpu"), toy_one_rank_raises, 1)
    elapsed = time.monotonic() - start

    message = str(info.value)
    assert message.startswith("rank 1 of 2 failed: ValueError: synthetic failure on rank 1")
    assert message.count("synthetic failure") == 1
    assert "toy_one_rank_raises" in message  # where it happened
    assert "Traceback" not in message  # the traceback is only in the chained cause
    assert "synthetic failure on rank 1" in str(info.value.__cause__)
    assert elapsed < 60


@pytest.mark.slow
def test_a_rank_s_data_error_reads_as_it_does_in_one_process():
    # The file and what is wrong, as `clara train` prints it without --nproc: no exception
    # class, no code location (those are for unexpected errors).
    with pytest.raises(DistributedError) as info:
        launch(LaunchSpec(nproc_per_node=2, device="cpu"), toy_one_rank_has_a_bad_case, 1)
    first_line = str(info.value).splitlines()[0]
    assert first_line == "rank 1 of 2 failed: /data/case_7.nii.gz: the file cannot be read"
    assert " at " not in str(info.value)


@pytest.mark.slow
def test_shutdown_in_finally_does_not_hide_the_root_cause():
    # Destroying the group while the error propagates would make rank 0 fail first with a
    # "connection closed" error and rank 1 be stopped before it could report.
    with pytest.raises(DistributedError, match=r"^rank 1 of 2 failed: KeyError: 'missing_key'"):
        launch(LaunchSpec(nproc_per_node=2, device="cpu"), toy_raises_inside_try_finally, 1)


@pytest.mark.slow
def test_a_rank_killed_by_a_signal_is_reported_as_the_cause():
    with pytest.raises(DistributedError, match=r"rank 0 of 2 was killed by signal SIGKILL"):
        launch(LaunchSpec(nproc_per_node=2, device="cpu"), toy_one_rank_killed, 0)


def toy_logs(_: int) -> int:
    with distributed("cpu") as ctx:
        silence_other_ranks(ctx)
        logging.getLogger("clara_cli.toy").warning("warning from rank %d", ctx.rank)
        warnings.warn(f"python warning from rank {ctx.rank}", stacklevel=1)
        return ctx.rank


@pytest.mark.slow
def test_c10d_rendezvous_endpoint_works_on_one_node():
    spec = LaunchSpec(
        nproc_per_node=2, rdzv_endpoint=f"127.0.0.1:{launch_mod._free_port()}", device="cpu"
    )
    assert [r["sum"] for r in launch(spec, toy_all_reduce, 0)] == [1.0, 1.0]


@pytest.mark.slow
def test_only_rank_zero_logs_and_warns(capfd):
    assert launch(LaunchSpec(nproc_per_node=2, device="cpu"), toy_logs, 0) == [0, 1]
    err = capfd.readouterr().err
    assert "warning from rank 0" in err and "python warning from rank 0" in err
    assert "rank 1" not in err


def test_check_gpus_says_how_many_are_visible_and_how_to_use_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(DistributedError) as info:
        check_gpus(2)
    assert "--gpus 2 asks for 2 GPUs but none is visible" in str(info.value)
    assert "--device cpu --gpus 2" in str(info.value)

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(DistributedError, match="only 1 is visible"):
        check_gpus(4)
    check_gpus(1)


def test_check_gpus_rejects_zero():
    with pytest.raises(DistributedError, match="at least 1"):
        check_gpus(0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (LaunchSpec(nproc_per_node=0, device="cpu"), "at least 1"),
        (LaunchSpec(nproc_per_node=1, nnodes=2, device="cpu"), "needs --master-port"),
        (
            LaunchSpec(nproc_per_node=1, nnodes=2, node_rank=2, master_port=1, device="cpu"),
            "--node-rank",
        ),
        (LaunchSpec(nproc_per_node=1, device="tpu"), "'cuda' or 'cpu'"),
    ],
)
def test_invalid_specs_are_refused_before_spawning(spec, message):
    with pytest.raises(DistributedError, match=message):
        launch(spec, toy_all_reduce, 0)


def test_unpicklable_entrypoints_and_arguments_are_refused_before_spawning():
    spec = LaunchSpec(nproc_per_node=2, device="cpu")
    with pytest.raises(DistributedError, match="top-level function"):
        launch(spec, lambda: 0)
    with pytest.raises(DistributedError, match=r"argument 0 of toy_all_reduce \(generator\)"):
        launch(spec, toy_all_reduce, (i for i in range(2)))


def test_rendezvous_static_on_one_node_and_c10d_with_an_endpoint():
    single = launch_mod._rendezvous(LaunchSpec(nproc_per_node=2, master_port=1234, device="cpu"))
    assert single["rdzv_backend"] == "static"
    assert single["rdzv_endpoint"] == "127.0.0.1:1234"
    assert single["rdzv_configs"]["rank"] == 0

    multi = launch_mod._rendezvous(
        LaunchSpec(
            nproc_per_node=2, nnodes=2, node_rank=1, master_addr="10.0.0.1", master_port=29400
        )
    )
    assert multi["rdzv_endpoint"] == "10.0.0.1:29400" and multi["rdzv_configs"]["rank"] == 1

    c10d = launch_mod._rendezvous(
        LaunchSpec(nproc_per_node=2, nnodes=2, rdzv_endpoint="head:29400")
    )
    assert c10d == {"rdzv_backend": "c10d", "rdzv_endpoint": "head:29400"}


def test_already_launched_follows_the_environment(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS"):
        monkeypatch.delenv(name, raising=False)
    assert not already_launched()
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert already_launched()


def test_a_peer_loss_error_is_not_taken_for_the_root_cause(tmp_path):
    import json

    records = [
        {"rank": "0", "time_ns": 1, "error": "RuntimeError: [gloo] Connection closed by peer"},
        {"rank": "1", "time_ns": 2, "error": "ValueError: bad label"},
    ]
    for record in records:
        record.update(where="", traceback="")
        (tmp_path / f"rank{record['rank']}.json").write_text(json.dumps(record))
    assert [r["rank"] for r in launch_mod._read_records(tmp_path)] == ["1", "0"]


def test_every_node_of_a_static_job_uses_the_same_run_id():
    # The static rendezvous prefixes node 0's store keys with the run id: per-node random ids
    # made two nodes wait for each other forever.
    specs = [LaunchSpec(1, nnodes=2, node_rank=r, master_port=29611, device="cpu") for r in (0, 1)]
    assert {launch_mod._default_run_id(spec) for spec in specs} == {"clara"}
