"""Run records: `run.json` beside a run's outputs says what produced them.

Every `clara train|validate|infer|export` writes one, in the folder its outputs go to
(MMAR_CKPT_DIR, MMAR_EVAL_OUTPUT_PATH, infer's `-o`; export writes `export_run.json` beside
the exported model, next to the training's `run.json`): the command line, the `--set`
values, every variable resolved (and the file it came from), the clara/MONAI/torch/CUDA
versions, the device and processes, start and end times, the status, and the model files the
run read (path, size, time, SHA-256). It is written at the start ("running") and rewritten at
the end ("completed", "failed" with the error, "interrupted"), atomically each time.

Beside it, `run.log` (`export_run.log`) keeps the run's log lines with time stamps (those
of the process that started the run: with --gpus/--nproc, rank 0's lines reach the terminal
only) and its final status.

A record already in the folder (an earlier run's) is never overwritten. A validation into a
folder holding an earlier validation's or inference's outputs first moves all of them, record
and log included, to `previous-<its start time>/` inside that folder, and says so: the new
report is in the usual place (eval/...), the earlier one beside it, untouched. Otherwise (an
inference, whose per-case outputs a re-run completes or adds to, or a training or export
record) the record is renamed to `run-<its start time>.json` (its log likewise), and an
inference says that files of the same name are replaced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from clara_cli.errors import first_line
from clara_cli.io.atomic import atomic_write_text
from clara_cli.mmar.loader import MmarConfig

log = logging.getLogger("clara")

RECORD_NAME = "run.json"
#: Export writes into MMAR_CKPT_DIR too: its record must not displace the training's.
EXPORT_RECORD_NAME = "export_run.json"
_OUTPUT_VARIABLE = {
    "train": "MMAR_CKPT_DIR",
    "validate": "MMAR_EVAL_OUTPUT_PATH",
    "infer": "MMAR_EVAL_OUTPUT_PATH",
    "export": "MMAR_TORCHSCRIPT",  # its folder
}


def record_path(command: str, mmar: MmarConfig, options: Any = None) -> Path | None:
    """Where the record of `command` goes, or None when its output folder is not set."""
    output = getattr(options, "output_dir", None) if command == "infer" else None
    if output is None:
        variable = _OUTPUT_VARIABLE.get(command)
        value = _resolved(mmar, variable) if variable else None
        if not value:
            return None
        output = Path(value).parent if command == "export" else Path(value)
    name = EXPORT_RECORD_NAME if command == "export" else RECORD_NAME
    return Path(output) / name


@contextmanager
def recording(
    command: str,
    workflow: str,
    mmar: MmarConfig,
    overrides: dict[str, Any],
    options: Any = None,
    device: str = "",
    processes: int = 1,
) -> Iterator[dict[str, Any]]:
    """Write the record of the run the `with` block runs; the block may add a "result".

    A record that cannot be written is reported as a warning: it never fails the run.
    """
    path = record_path(command, mmar, options)
    record: dict[str, Any] = {
        "command": command,
        "workflow": workflow,
        "status": "running",
        "command_line": shlex.join(["clara", *sys.argv[1:]] if _from_cli() else sys.argv),
        "cwd": os.getcwd(),
        "mmar": str(mmar.mmar_root),
        "config": str(mmar.config_file),
        "environment": str(mmar.env_file),
        "set": overrides,
        "variables": {name: _resolved(mmar, name) for name in sorted(mmar.variables)},
        "variable_sources": dict(sorted(mmar.origins.items())),
        "device": device,
        "processes": processes,
        "started": _now(),
        "finished": None,
        "seconds": None,
        "model_files": [_describe(p) for p in models_read(command, mmar)],
        "versions": _versions(),
    }
    if path is None:
        yield record
        return
    # Only into a folder that exists: a run that fails before making its output folder (a
    # config error, a missing model) leaves nothing behind.
    if path.parent.is_dir():
        _keep_earlier(path, command)
        _write(path, record)
    run_log = RunLog(path.with_suffix(".log"))
    clara_log = logging.getLogger("clara")
    clara_log.addHandler(run_log)
    clock = time.monotonic()
    try:
        yield record
    except KeyboardInterrupt:
        record["status"] = "interrupted"
        raise
    except BaseException as err:
        record["status"] = "failed"
        record["error"] = first_line(err)
        raise
    else:
        record["status"] = "completed"
    finally:
        record["finished"] = _now()
        record["seconds"] = round(time.monotonic() - clock, 3)
        clara_log.removeHandler(run_log)
        error = f": {record['error']}" if record.get("error") else ""
        run_log.add_line(f"{record['finished']} {record['status']}{error}")
        if path.parent.is_dir():
            _write(path, record)


class RunLog(logging.Handler):
    """Appends the `clara` logger's lines to a run's log file, once its folder exists (lines
    logged before that are held, so the run's first lines are kept too)."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.INFO)
        self.path = path
        self.pending: list[str] = []
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.add_line(self.format(record))
        except Exception:  # noqa: BLE001 - logging must never fail the run
            self.handleError(record)

    def add_line(self, line: str) -> None:
        self.pending.append(line)
        self.flush()

    def flush(self) -> None:
        if not self.pending or not self.path.parent.is_dir():
            return
        try:
            with self.path.open("a", encoding="utf-8") as stream:
                stream.write("\n".join(self.pending) + "\n")
        except OSError:
            return  # kept pending: a later line tries again
        self.pending.clear()


def summarize(result: Any) -> dict[str, Any]:
    """The headline of a workflow's result for the record (epochs, metrics, cases)."""
    summary: dict[str, Any] = {}
    for name in ("epochs_run", "iterations", "best_metric", "best_epoch", "key_metric"):
        value = getattr(result, name, None)
        if value is not None:
            summary[name] = value
    if getattr(result, "resumed_from", None) is not None:
        summary["resumed_from_epoch"] = result.resumed_from
    if getattr(result, "metrics", None):
        summary["metrics"] = dict(result.metrics)
    cases = getattr(result, "cases", None)
    if cases is not None:
        summary["cases"] = len(cases)
        summary["failed_cases"] = [c.name for c in cases if getattr(c, "error", None)]
    return summary


def models_read(command: str, mmar: MmarConfig) -> list[Path]:
    """The model files `command` reads, as its config and variables say.

    Validation and inference: the first enabled loader of each `model` entry (MMAR_TORCHSCRIPT
    or MMAR_CKPT); export: MMAR_CKPT; training: MMAR_CKPT when finetuning
    (`dont_load_ckpt_model: false`), else none.
    """
    from clara_cli.mmar.resolver import _truthy

    if command == "export":
        return [Path(p) for p in [_resolved(mmar, "MMAR_CKPT")] if p]
    if command == "train":
        finetune = _resolved(mmar, "dont_load_ckpt_model")
        if finetune is None or _truthy(finetune):
            return []
        return [Path(p) for p in [_resolved(mmar, "MMAR_CKPT")] if p]
    from clara_cli.mmar.variables import substitute

    spec = mmar.config.get("model")
    if spec is None:
        return [Path(p) for p in [_resolved(mmar, "MMAR_CKPT")] if p]
    try:
        spec = substitute(spec, mmar.variables, "model", str(mmar.config_file))
    except Exception:  # noqa: BLE001 - the run itself reports a bad spec
        return []
    return [Path(p) for p in _loader_paths(spec, _truthy)]


def _loader_paths(spec: Any, truthy: Any) -> list[str]:
    if isinstance(spec, dict) and any(k in spec for k in ("ts_path", "ckpt_path")):
        if truthy(spec.get("disabled")):
            return []
        return [str(spec.get("ts_path") or spec.get("ckpt_path"))]
    if isinstance(spec, list):
        loaders = [item for item in spec if isinstance(item, dict)]
        if loaders and all(any(k in i for k in ("ts_path", "ckpt_path")) for i in loaders):
            for item in loaders:  # Clara's rule: the first enabled loader wins
                found = _loader_paths(item, truthy)
                if found:
                    return found
            return []
        return [p for item in spec for p in _loader_paths(item, truthy)]
    if isinstance(spec, dict):
        return [p for value in spec.values() for p in _loader_paths(value, truthy)]
    return []


def _resolved(mmar: MmarConfig, name: str) -> Any:
    from clara_cli.mmar.variables import substitute

    if name not in mmar.variables:
        return None
    try:
        return substitute(mmar.variables[name], mmar.variables, name, str(mmar.config_file))
    except Exception:  # noqa: BLE001 - a record shows what it can; the run reports errors
        return mmar.variables[name]


def _describe(path: Path) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": str(path)}
    try:
        stat = path.stat()
    except OSError:
        entry["exists"] = False
        return entry
    entry["bytes"] = stat.st_size
    entry["modified"] = _iso(stat.st_mtime)
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    entry["sha256"] = digest.hexdigest()
    return entry


def _keep_earlier(path: Path, command: str) -> None:
    if not path.exists():
        return
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
        started = str(earlier.get("started") or "")
        earlier_command = str(earlier.get("command") or "")
    except (OSError, ValueError, AttributeError):
        started, earlier_command = "", ""
    stamp = _stamp(started) or _stamp(_iso(path.stat().st_mtime))
    if command == "validate" and earlier_command in ("validate", "infer"):
        _move_earlier_outputs(path.parent, stamp, earlier_command, started)
        return
    kept = path.with_name(f"{path.stem}-{stamp}.json")
    counter = 1
    while kept.exists():
        counter += 1
        kept = path.with_name(f"{path.stem}-{stamp}-{counter}.json")
    try:
        os.replace(path, kept)
        if path.with_suffix(".log").exists():
            os.replace(path.with_suffix(".log"), kept.with_suffix(".log"))
    except OSError as err:
        log.warning("cannot keep the earlier run record %s: %s", path, err.strerror)
        return
    if command in ("validate", "infer"):
        log.warning(
            "%s holds the outputs of an earlier %s (started %s): files of the same name are "
            "replaced; its record is kept as %s",
            path.parent,
            command,
            started or "at an unknown time",
            kept.name,
        )


def _move_earlier_outputs(folder: Path, stamp: str, earlier: str, started: str) -> None:
    """Everything in `folder` but earlier `previous-*` folders -> `folder/previous-<stamp>/`."""
    target = folder / f"previous-{stamp}"
    counter = 1
    while target.exists():
        counter += 1
        target = folder / f"previous-{stamp}-{counter}"
    entries = [p for p in folder.iterdir() if not p.name.startswith("previous-")]
    try:
        target.mkdir()
        for entry in entries:
            os.replace(entry, target / entry.name)
    except OSError as err:
        log.warning("cannot move the earlier outputs of %s to %s: %s", folder, target, err)
        return
    log.warning(
        "%s held the outputs of an earlier %s (started %s): moved to %s",
        folder,
        earlier,
        started or "at an unknown time",
        target.name,
    )


def _write(path: Path, record: dict[str, Any]) -> None:
    try:
        atomic_write_text(path, json.dumps(record, indent=2, default=str) + "\n")
    except OSError as err:
        log.warning("cannot write the run record %s: %s", path, err.strerror or err)


def _versions() -> dict[str, Any]:
    from clara_cli.versions import runtime_versions

    try:
        return runtime_versions()
    except ImportError:
        from clara_cli.versions import stack_versions

        return dict(stack_versions())


def _from_cli() -> bool:
    """Whether this process is the `clara` command (its script, or `python -m clara_cli`)."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    return program.name == "clara" or program.parent.name == "clara_cli"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


def _stamp(iso: str) -> str:
    """ "2026-12-01T14:10:00+00:00" -> "20261201T141000Z" (file-name safe)."""
    digits = iso[:19].replace("-", "").replace(":", "")
    return f"{digits}Z" if len(digits) == 15 else ""
