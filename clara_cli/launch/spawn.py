"""Start N worker processes with torch.distributed's elastic launcher (what torchrun runs).

``clara train --gpus N`` calls :func:`launch` with a top-level worker function; each worker
calls :func:`clara_cli.launch.process_group.init_distributed` first. When this process was
itself started by torchrun or srun (:func:`clara_cli.launch.process_group.detect_launch_env`),
the caller runs the worker function directly instead of spawning again.

If any worker fails, the agent stops the others (no rank is left blocked in a collective)
and :func:`launch` raises one :class:`~clara_cli.errors.DistributedError` carrying the
first failing rank's error; its full traceback is chained as the cause, so ``--debug`` shows
it while a normal run prints a single message.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clara_cli.errors import DistributedError, clara_error_in
from clara_cli.io.atomic import atomic_write_text


@dataclass
class LaunchSpec:
    """How many workers to start and how they find each other.

    Attributes:
        nproc_per_node: workers on this node (one per GPU on CUDA).
        nnodes: number of nodes in the job.
        node_rank: this node's index (static rendezvous only).
        master_addr: address of node 0.
        master_port: port on node 0; ``None`` picks a free one (single node only).
        rdzv_endpoint: ``host:port`` of a c10d rendezvous; when given, nodes find each other
            there and ``node_rank``/``master_*`` are not needed.
        device: ``"cuda"`` (NCCL, one GPU per worker) or ``"cpu"`` (gloo).
        monitor_interval: seconds between the agent's checks of its workers.
        shutdown_timeout: seconds the agent waits after SIGTERM before SIGKILL.
        run_id: job id, the same on every node (default "clara"): the static rendezvous
            prefixes every key of node 0's store with it, so nodes with different ids would
            wait for each other forever.
    """

    nproc_per_node: int
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int | None = None
    rdzv_endpoint: str | None = None
    device: str = "cuda"
    monitor_interval: float = 0.2
    shutdown_timeout: int = 10
    run_id: str | None = None


class WorkerTraceback(Exception):
    """The traceback text of a failed worker, chained under the DistributedError."""


def check_gpus(requested: int) -> None:
    """Fail clearly when more GPUs are requested than this machine shows.

    Raises:
        DistributedError: ``requested`` is below 1 or above the number of visible GPUs.
    """
    import torch

    if requested < 1:
        raise DistributedError(f"--gpus must be at least 1, not {requested}")
    visible = torch.cuda.device_count()
    if requested <= visible:
        return
    devices = os.environ.get("CUDA_VISIBLE_DEVICES")
    where = f" (CUDA_VISIBLE_DEVICES={devices})" if devices is not None else ""
    seen = "none is" if visible == 0 else f"only {visible} {'is' if visible == 1 else 'are'}"
    raise DistributedError(
        f"--gpus {requested} asks for {requested} GPUs but {seen} visible{where}\n"
        + (f"  use --gpus {visible} or fewer, or " if visible else "  ")
        + f"run {requested} processes on the CPU instead: --device cpu --gpus {requested}"
    )


def launch(spec: LaunchSpec, entrypoint: Callable[..., Any], *args: Any) -> list[Any]:
    """Run ``entrypoint(*args)`` in ``spec.nproc_per_node`` worker processes and wait.

    The entrypoint must be an importable top-level function (it is pickled to the workers)
    and its return value picklable. Each worker sees ``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; worker stdout/stderr go to the
    terminal.

    Args:
        spec: the process layout.
        entrypoint: the worker function.
        *args: its arguments (picklable).

    Returns:
        The return values of this node's workers, in global-rank order.

    Raises:
        DistributedError: the spec is invalid, or a worker failed (the message names the
            first failing rank and its error).
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    _check_spec(spec)
    _check_picklable(entrypoint, args)
    error_dir = Path(tempfile.mkdtemp(prefix="clara_launch_"))
    config = LaunchConfig(
        min_nodes=spec.nnodes,
        max_nodes=spec.nnodes,
        nproc_per_node=spec.nproc_per_node,
        run_id=spec.run_id or _default_run_id(spec),
        max_restarts=0,
        monitor_interval=spec.monitor_interval,
        start_method="spawn",
        shutdown_timeout=spec.shutdown_timeout,
        **_rendezvous(spec),
    )
    quiet = _QuietElasticLogs()
    try:
        with quiet, _tracker_quiet_about_stopped_workers():
            results = elastic_launch(config, _run_worker)(str(error_dir), entrypoint, *args)
    except ChildFailedError as err:
        raise _failure_error(err, error_dir, spec.nproc_per_node * spec.nnodes) from (
            _cause(err, error_dir)
        )
    except SignalException as err:
        # The agent has already stopped the workers; report it like any interrupted command.
        if err.sigval == signal.SIGINT:
            raise KeyboardInterrupt from None
        raise DistributedError(
            f"the launcher received {_signal_name(int(err.sigval))}; all workers were stopped"
        ) from None
    finally:
        shutil.rmtree(error_dir, ignore_errors=True)
    return [results[rank] for rank in sorted(results)]


#: The one warning multiprocessing's resource tracker gives when the launcher has stopped a
#: worker that held a semaphore (a DataLoader queue): "resource_tracker: There appear to be N
#: leaked semaphore objects to clean up at shutdown". The tracker cleans them up itself; the
#: failed rank's error is already reported. As a -W filter (message prefix, category, module).
TRACKER_WARNING_FILTER = "ignore:resource_tracker:UserWarning:multiprocessing.resource_tracker"


@contextmanager
def _tracker_quiet_about_stopped_workers() -> Iterator[None]:
    """Give the resource tracker started for this launch exactly that filter.

    The tracker is a separate interpreter (clara's logger does not exist there), started by
    the first semaphore of the launch with the environment of that moment; PYTHONWARNINGS is
    how a filter reaches it. Workers inherit it too, and it matches nothing of theirs.
    """
    before = os.environ.get("PYTHONWARNINGS")
    filters = [f for f in (before or "").split(",") if f]
    os.environ["PYTHONWARNINGS"] = ",".join([*filters, TRACKER_WARNING_FILTER])
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONWARNINGS", None)
        else:
            os.environ["PYTHONWARNINGS"] = before


def _default_run_id(spec: LaunchSpec) -> str:
    # Every node must use the same id, with c10d (nodes meet under it) and static rendezvous
    # alike (keys in node 0's store are prefixed with it). Separate jobs on one machine are
    # kept apart by their ports/endpoints, not by the id.
    return "clara"


def _run_worker(error_dir: str, entrypoint: Callable[..., Any], *args: Any) -> Any:
    """Run the user entrypoint; on error, record it and exit 1 without printing a traceback.

    Each rank that fails writes ``rank<N>.json``; the launcher picks the earliest as the
    root cause (the others usually fail *because* a peer died), so the user sees one error.
    """
    try:
        return entrypoint(*args)
    except BaseException as err:  # noqa: B036 - SystemExit/KeyboardInterrupt are failures too
        if isinstance(err, SystemExit) and err.code in (0, None):
            return None
        rank = os.environ.get("RANK", "?")
        # clara's own errors already say what and where (a file, a config key), as they do in
        # one process; only an unexpected exception needs its class and code location.
        ours = clara_error_in(err) if isinstance(err, Exception) else None
        record = {
            "rank": rank,
            "time_ns": time.time_ns(),
            "error": str(ours) if ours is not None else f"{type(err).__name__}: {err}",
            "where": "" if ours is not None else _innermost_frame(err),
            "traceback": "".join(traceback.format_exception(err)),
        }
        atomic_write_text(Path(error_dir) / f"rank{rank}.json", json.dumps(record))
        logging.shutdown()  # flushes the run log's handlers, as a normal exit would
        sys.stdout.flush()
        sys.stderr.flush()
        # `_exit`, not `sys.exit`: the interpreter's shutdown would destroy the process
        # group's still-running C++ threads, and the C++ runtime then aborts the process
        # with "terminate called without an active exception" and a crash dump on stderr.
        os._exit(1)


def _check_spec(spec: LaunchSpec) -> None:
    if spec.nproc_per_node < 1:
        raise DistributedError(
            f"the number of processes must be at least 1, not {spec.nproc_per_node}"
        )
    if spec.nnodes < 1:
        raise DistributedError(f"--nnodes must be at least 1, not {spec.nnodes}")
    if not 0 <= spec.node_rank < spec.nnodes:
        raise DistributedError(
            f"--node-rank must be between 0 and {spec.nnodes - 1} (--nnodes {spec.nnodes}), "
            f"not {spec.node_rank}"
        )
    if spec.device not in ("cuda", "cpu"):
        raise DistributedError(f"device must be 'cuda' or 'cpu', not {spec.device!r}")
    if spec.device == "cuda":
        check_gpus(spec.nproc_per_node)
    if spec.nnodes > 1 and spec.rdzv_endpoint is None and spec.master_port is None:
        raise DistributedError(
            f"--nnodes {spec.nnodes} needs --master-port (the same on every node), "
            "or --rdzv-endpoint host:port"
        )


def _check_picklable(entrypoint: Callable[..., Any], args: tuple[Any, ...]) -> None:
    # Spawned workers receive the function by reference and the arguments by value.
    name = getattr(entrypoint, "__qualname__", repr(entrypoint))
    try:
        pickle.dumps(entrypoint)
    except Exception as err:  # noqa: BLE001 - pickling raises several unrelated types
        raise DistributedError(
            f"the worker function {name} cannot be sent to the worker processes ({err})\n"
            "  it must be a top-level function of an importable module, not a lambda or closure"
        ) from None
    for index, arg in enumerate(args):
        try:
            pickle.dumps(arg)
        except Exception as err:  # noqa: BLE001
            raise DistributedError(
                f"argument {index} of {name} ({type(arg).__name__}) cannot be sent to the "
                f"worker processes ({err})\n  pass plain values (paths, strings, dicts)"
            ) from None


def _rendezvous(spec: LaunchSpec) -> dict[str, Any]:
    if spec.rdzv_endpoint is not None:
        # c10d: nodes meet at the endpoint and get their ranks there (torchrun's default).
        return {"rdzv_backend": "c10d", "rdzv_endpoint": spec.rdzv_endpoint}
    port = spec.master_port if spec.master_port is not None else _free_port()
    return {
        "rdzv_backend": "static",
        "rdzv_endpoint": f"{spec.master_addr}:{port}",
        "rdzv_configs": {"rank": spec.node_rank, "timeout": 900},
    }


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _read_records(error_dir: Path) -> list[dict[str, Any]]:
    records = []
    for path in error_dir.glob("rank*.json"):
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    # A rank whose peer vanished fails too, a little later, with a transport error: order by
    # "looks like a consequence" first, time second, so the root cause comes first.
    return sorted(records, key=lambda r: (_is_peer_loss(r["error"]), r["time_ns"]))


_PEER_LOSS_MARKERS = (
    "connection closed by peer",
    "connection reset by peer",
    "broken pipe",
    "read error",
    "socket closed",
    "communicator was aborted",
    "distnetworkerror",
    "distbackenderror",
)


def _is_peer_loss(error: str) -> bool:
    text = error.lower()
    return any(marker in text for marker in _PEER_LOSS_MARKERS)


def _failure_error(err: Any, error_dir: Path, world_size: int) -> DistributedError:
    """One message for the root cause: a rank killed by a signal, else the earliest error."""
    records = _read_records(error_dir)
    recorded = {str(r["rank"]) for r in records}
    killed = [
        (rank, failure)
        for rank, failure in sorted(err.failures.items())
        if str(rank) not in recorded and failure.exitcode < 0
    ]
    if killed:
        # A rank killed by a signal (often the OOM killer) left no record; the records of the
        # other ranks are then errors caused by its disappearance.
        rank, failure = killed[0]
        name = _signal_name(-failure.exitcode)
        hint = "  often the out-of-memory killer: check `dmesg`, lower the batch or patch size"
        return DistributedError(
            f"rank {rank} of {world_size} was killed by signal {name}; "
            f"all workers were stopped\n{hint}"
        )
    if records:
        first = records[0]
        where = f"\n  at {first['where']}" if first["where"] else ""
        return DistributedError(
            f"rank {first['rank']} of {world_size} failed: {first['error']}{where}\n"
            "  all workers were stopped (run with --debug for the worker's traceback)"
        )
    rank, failure = err.get_first_failure()
    return DistributedError(
        f"rank {rank} of {world_size} failed with exit code {failure.exitcode}; "
        "all workers were stopped"
    )


def _cause(err: Any, error_dir: Path) -> BaseException:
    records = _read_records(error_dir)
    if records:
        return WorkerTraceback(
            f"traceback of rank {records[0]['rank']}:\n{records[0]['traceback']}"
        )
    return err


def _innermost_frame(err: BaseException) -> str:
    frames = traceback.extract_tb(err.__traceback__)
    if not frames:
        return ""
    frame = frames[-1]
    return f"{frame.filename}:{frame.lineno} in {frame.name}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


class _QuietElasticLogs:
    """Hide the agent's own failure report and warnings: `launch` reports the failure once."""

    _names = ("torch.distributed.elastic", "torch.distributed.launcher", "torch.multiprocessing")

    def __enter__(self) -> None:
        self._levels = {}
        for name in self._names:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.setLevel(logging.CRITICAL)

    def __exit__(self, *exc: object) -> None:
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)
