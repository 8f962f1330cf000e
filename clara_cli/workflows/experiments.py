"""An experiment queue over any MMAR: one training (+ validation) run per row of a CSV file.

The header of the queue file names config variables (any key `--set` accepts: ``model``,
``encoder``, ``n4``, ``axis``, ``epochs``, ...); each row is one run with those values::

    model,encoder,n4,axis
    Unet,random,false,0
    FPN,resnet50,true,2

Cells are typed like `--set` values (JSON: ``0``, ``true``, ``[1,2]``; else text); an empty
cell leaves the config's own value. Lines starting with ``#`` are comments. Every row runs
in its own folder under the output folder (``MMAR_CKPT_DIR`` and ``MMAR_EVAL_OUTPUT_PATH``
point there), named after its settings so that editing or reordering the file never mixes
results up. Its ``experiment.json`` records the status (running, done, failed), the metric
and the time; the queue skips finished rows, continues an interrupted row from its resume
checkpoint (``clara train --resume``), records a failing row as failed and goes on, and
rewrites the results tables (:mod:`clara_cli.report.experiment_tables`) after every row.
Rows run one at a time, each as `clara train` and `clara validate` run (the CLI passes
:func:`clara_cli.families.run_for_archive`, so a family that claims the archive chooses
the workflows), and ``--gpus N`` gives every row N worker processes.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from clara_cli.errors import ConfigError

log = logging.getLogger("clara")

STATE_FILE = "experiment.json"
LOCK_FILE = ".queue.lock"
#: Variables the queue sets for every row (its own folders); a row may not set them.
MANAGED = ("MMAR_CKPT_DIR", "MMAR_EVAL_OUTPUT_PATH", "MMAR_CKPT")
PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"


@dataclass(frozen=True)
class Experiment:
    """One row of the queue.

    Attributes:
        number: its 1-based position among the rows (comments not counted).
        line: its line in the file (for messages).
        cells: the row as written, by column (empty cells left out).
        settings: the cells typed like `--set` values.
    """

    number: int
    line: int
    cells: dict[str, str]
    settings: dict[str, Any]

    @property
    def folder(self) -> str:
        """The row's folder name: its values, then a digest of its settings."""
        digest = hashlib.sha1(
            json.dumps(self.settings, sort_keys=True).encode("utf-8")
        ).hexdigest()[:8]
        slug = "-".join(re.sub(r"[^A-Za-z0-9.]+", "", text) for text in self.cells.values())
        return f"{slug[:60]}-{digest}" if slug else digest


@dataclass(frozen=True)
class Queue:
    """A queue file: its columns (in order) and rows."""

    path: Path
    columns: tuple[str, ...]
    experiments: tuple[Experiment, ...]


@dataclass
class RowState:
    """What happened to one row (its ``experiment.json``)."""

    status: str = PENDING
    settings: dict[str, Any] = field(default_factory=dict)
    common: dict[str, Any] = field(default_factory=dict)
    metric: float | None = None
    seconds: float = 0.0
    attempts: int = 0
    error: str | None = None
    started: str | None = None
    finished: str | None = None


@dataclass(frozen=True)
class QueueOptions:
    """How to run the rows.

    Attributes:
        mmar_root: the archive every row trains.
        train_config: its training config (relative to mmar_root unless absolute).
        validate_config: the validation config that scores a row; None: the training run's
            best key metric is the row's metric.
        env_path: environment.json.
        overrides: `--set` values common to every row (a row's own cells win).
        device: "auto", "cpu" or "cuda".
        launch: the process layout of every row (`--gpus N`), a LaunchOptions.
        output_dir: where the row folders and results tables go.
        retry_failed: run failed rows again (they are skipped otherwise).
        debug: workers log at debug level.
        run_command: runs one command on an archive, ``(command, request, options, launch,
            debug) -> rank 0's result``; the CLI passes
            :func:`clara_cli.families.run_for_archive` (a family may claim the archive and
            choose its workflows); None: the built-in workflows.
    """

    mmar_root: Path
    output_dir: Path
    train_config: str = "config/config_train.json"
    validate_config: str | None = "config/config_validation.json"
    env_path: str = "config/environment.json"
    overrides: Mapping[str, Any] = field(default_factory=dict)
    device: str = "auto"
    launch: Any = None
    retry_failed: bool = False
    debug: bool = False
    run_command: Callable[..., Any] | None = None


#: Runs one row: (options, overrides, resume) -> metric (a fraction, e.g. mean Dice).
RowRunner = Callable[[QueueOptions, dict[str, Any], bool], float | None]


def read_queue(path: str | os.PathLike[str]) -> Queue:
    """Read a queue file (see the module docstring).

    Raises:
        ConfigError: missing file, no header, a duplicate or empty column name, a column the
            queue manages itself, or a row with more cells than the header.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"experiment queue not found: {path}") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1)]
    content = [(n, line) for n, line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not content:
        raise ConfigError(f"{path}: no header line (the config variables each row sets)")
    reader = csv.reader([line for _, line in content], skipinitialspace=True)
    rows = list(reader)
    header_line = content[0][0]
    columns = tuple(name.strip() for name in rows[0])
    _check_columns(path, header_line, columns)
    experiments: list[Experiment] = []
    for (line, _), cells in zip(content[1:], rows[1:], strict=True):
        if len(cells) > len(columns):
            raise ConfigError(
                f"{path}:{line}: {len(cells)} cells but the header names {len(columns)} "
                f"columns ({', '.join(columns)})"
            )
        written = {c: v.strip() for c, v in zip(columns, cells, strict=False) if v.strip()}
        typed = {c: parse_cell(v) for c, v in written.items()}
        experiments.append(Experiment(len(experiments) + 1, line, written, typed))
    return Queue(path, columns, tuple(experiments))


def _check_columns(path: Path, line: int, columns: tuple[str, ...]) -> None:
    where = f"{path}:{line}"
    if any(not name for name in columns):
        raise ConfigError(f"{where}: the header has an empty column name")
    seen = {name for name in columns if columns.count(name) > 1}
    if seen:
        raise ConfigError(f"{where}: column {sorted(seen)[0]!r} appears twice in the header")
    managed = [name for name in columns if name in MANAGED]
    if managed:
        raise ConfigError(
            f"{where}: column {managed[0]!r} is set by the queue (each row writes to its own "
            "folder); remove it, and use -o to choose where the rows go"
        )


def parse_cell(text: str) -> Any:
    """Type a cell like a `--set` value: JSON when it parses (and True/False/None), else text."""
    words = {"True": True, "False": False, "None": None}
    if text in words:
        return words[text]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def read_state(row_dir: Path) -> RowState | None:
    """The row's recorded state, or None when it never started."""
    path = row_dir / STATE_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RowState(**data)
    except (json.JSONDecodeError, TypeError) as err:
        raise ConfigError(
            f"{path}: unreadable experiment state ({err}); delete the file to run the row again"
        ) from None


def write_state(row_dir: Path, state: RowState) -> None:
    """Replace the row's ``experiment.json`` atomically."""
    from clara_cli.io.atomic import atomic_write_text

    atomic_write_text(row_dir / STATE_FILE, json.dumps(asdict(state), indent=2) + "\n")


def queue_status(queue: Queue, output_dir: Path) -> list[tuple[Experiment, RowState]]:
    """Every row with its state (pending when it never started)."""
    return [(e, read_state(output_dir / e.folder) or RowState()) for e in queue.experiments]


def run_queue(
    queue: Queue, options: QueueOptions, run_row: RowRunner | None = None
) -> list[tuple[Experiment, RowState]]:
    """Run every unfinished row in order; returns every row with its final state.

    Finished rows are skipped (failed ones too unless ``retry_failed``); a row left running
    by an interrupted queue continues from its newest resume checkpoint. A row that raises
    is recorded as failed (message in ``experiment.json``, traceback in its ``clara.log``)
    and the queue goes on. Ctrl-C stops the queue and leaves the row to be resumed.

    Raises:
        ConfigError: another queue process is running on the same output folder.
    """
    from clara_cli.report.experiment_tables import write_results

    run_row = run_row or run_training_row
    output_dir = options.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    with _QueueLock(output_dir):
        for experiment in queue.experiments:
            _run_one(experiment, options, run_row, len(queue.experiments))
            write_results(queue, queue_status(queue, output_dir), output_dir)
        return queue_status(queue, output_dir)


def _run_one(experiment: Experiment, options: QueueOptions, run_row: RowRunner, total: int) -> None:
    row_dir = options.output_dir / experiment.folder
    state = read_state(row_dir)
    label = f"[{experiment.number}/{total}] {_describe(experiment)}"
    common = {k: v for k, v in options.overrides.items() if k not in experiment.settings}
    if state is not None and state.status == DONE:
        log.info("%s: done (%s), skipped", label, _metric_text(state.metric))
        if state.common != _jsonable(common):
            log.warning("%s was run with other common --set values; delete %s to rerun it",
                        label, row_dir)  # fmt: skip
        return
    if state is not None and state.status == FAILED and not options.retry_failed:
        log.info("%s: failed before, skipped (--retry-failed runs it again)", label)
        return
    resume = state is not None and state.status == RUNNING
    state = RowState(
        status=RUNNING,
        settings=_jsonable(experiment.settings),
        common=_jsonable(common),
        attempts=(state.attempts if state else 0) + 1,
        started=time.strftime("%Y-%m-%d %H:%M:%S"),
        seconds=state.seconds if resume and state else 0.0,
    )
    write_state(row_dir, state)
    log.info("%s: %s in %s", label, "resuming" if resume else "running", row_dir)
    overrides = {
        **options.overrides,
        **experiment.settings,
        "MMAR_CKPT_DIR": str(row_dir / "models"),
        "MMAR_EVAL_OUTPUT_PATH": str(row_dir / "eval"),
    }
    start = time.perf_counter()
    handler = _row_log(row_dir)
    try:
        state.metric = run_row(options, overrides, resume)
        state.status = DONE
    except Exception as err:  # noqa: BLE001 - one failing row must not stop the queue
        log.debug("%s failed", label, exc_info=True)
        if handler.stream is not None:  # the traceback goes to the row's log only
            handler.stream.write(traceback.format_exc())
        state.status, state.error = FAILED, _error_text(err)
        log.warning("%s: FAILED: %s (the queue goes on)", label, state.error)
    finally:
        logging.getLogger("clara").removeHandler(handler)
        handler.close()
    state.seconds += time.perf_counter() - start
    state.finished = time.strftime("%Y-%m-%d %H:%M:%S")
    write_state(row_dir, state)
    if state.status == DONE:
        log.info("%s: done in %.0f s, %s", label, state.seconds, _metric_text(state.metric))


def run_training_row(
    options: QueueOptions, overrides: dict[str, Any], resume: bool
) -> float | None:
    """Train one row (``clara train``, resumed if asked), then validate it; its metric.

    The metric is the validation's mean Dice, or the training's best key metric when the
    queue has no validation config.
    """
    from clara_cli.workflows.runner import run_command as run_builtin
    from clara_cli.workflows.session import RunRequest
    from clara_cli.workflows.train import TrainOptions

    run_command = options.run_command or run_builtin
    request = RunRequest(
        options.mmar_root, options.train_config, options.env_path, dict(overrides), options.device
    )
    trained = run_command(
        "train", request, TrainOptions(resume=resume), options.launch, options.debug
    )
    if options.validate_config is None:
        return None if trained is None else trained.best_metric
    models = Path(overrides["MMAR_CKPT_DIR"])
    checkpoint = models / "model.pt"
    if not checkpoint.is_file():  # no validation during training: the final weights
        checkpoint = models / "model_final.pt"
    request = RunRequest(
        options.mmar_root,
        options.validate_config,
        options.env_path,
        {**overrides, "MMAR_CKPT": str(checkpoint)},
        options.device,
    )
    validated = run_command("validate", request, None, options.launch, options.debug)
    if validated is None:
        return None
    value = validated.summary.get("mean_dice")
    return None if value is None else float(value)


class _QueueLock:
    """One queue process per output folder; a lock left by a killed process is taken over."""

    def __init__(self, output_dir: Path) -> None:
        self.path = output_dir / LOCK_FILE

    def __enter__(self) -> _QueueLock:
        if self.path.is_file():
            try:
                pid = int(self.path.read_text().strip() or 0)
            except ValueError:
                pid = 0
            if pid and pid != os.getpid() and _alive(pid):
                raise ConfigError(
                    f"another experiment queue (process {pid}) is running in "
                    f"{self.path.parent}; wait for it, or stop it first"
                )
        self.path.write_text(f"{os.getpid()}\n")
        return self

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _row_log(row_dir: Path) -> logging.FileHandler:
    handler = logging.FileHandler(row_dir / "clara.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("clara").addHandler(handler)
    return handler


def _error_text(err: BaseException) -> str:
    from clara_cli.errors import ClaraError, first_line, root_cause

    if isinstance(err, ClaraError):
        return first_line(err)
    cause = root_cause(err)
    return f"{type(cause).__name__}: {first_line(cause)}"


def _describe(experiment: Experiment) -> str:
    return " ".join(f"{k}={v}" for k, v in experiment.cells.items()) or "(config defaults)"


def _metric_text(metric: float | None) -> str:
    return "no metric" if metric is None else f"metric {metric:.4f}"


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(dict(values), default=str))
