"""`clara train`: the training workflow, run in every rank of a job.

Builds the config's `train` and `validate` sections, attaches clara's progress, history and
resume checkpoints, starts from a resume checkpoint or finetunes when asked, and runs the
trainer. Returns a :class:`TrainResult` that tests can inspect.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clara_cli.errors import ConfigError
from clara_cli.workflows.sections import build_sections
from clara_cli.workflows.session import RunRequest, Session, open_session

log = logging.getLogger("clara")


@dataclass(frozen=True)
class TrainOptions:
    """`clara train`'s own options.

    Attributes:
        resume: continue from the newest resume checkpoint in MMAR_CKPT_DIR.
        write_train_stats: write MMAR_CKPT_DIR/train_stats.json at the end (Clara's
            `--write_train_stats`).
    """

    resume: bool = False
    write_train_stats: bool = False


@dataclass
class TrainResult:
    """What a training run produced."""

    ckpt_dir: Path
    epochs_run: int
    iterations: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    best_metric: float | None = None
    best_epoch: int | None = None
    key_metric: str | None = None
    resumed_from: int | None = None


class TrainWorkflow:
    """Supervised training as the config's trainer defines it (its `iteration` included)."""

    name = "train"
    command = "train"
    default_config = "config/config_train.json"
    options_type = TrainOptions
    #: section -> the keys it builds itself (what `mmar.early_check` follows).
    builds = {
        "train": ("trainer", "model", "handlers", "optimizer", "lr_scheduler"),
        "validate": ("evaluator", "handlers"),
    }

    def run(self, request: RunRequest, options: TrainOptions) -> TrainResult:
        """Train in this process (one rank of the job)."""
        return train(request, options)


#: Registered lazily by name in clara_cli.workflows.base.
WORKFLOW = TrainWorkflow()


def train(request: RunRequest, options: TrainOptions | None = None) -> TrainResult:
    """Run the training workflow of `request` in this process (one rank of the job).

    With `options.resume` the run continues from the newest checkpoint in MMAR_CKPT_DIR;
    with `dont_load_ckpt_model: false` it starts from MMAR_CKPT's weights (finetuning).
    """
    from clara_cli.engine.empty_shard import join_evaluation_with_empty_shards
    from clara_cli.engine.epoch_log import EpochLog
    from clara_cli.engine.handlers import EpochProgress, History
    from clara_cli.engine.resume import ResumeCheckpointer
    from clara_cli.launch import process_group as distributed

    options = options or TrainOptions()
    session = open_session(request)
    history: Any = None
    events_before: set[Path] | None = None
    epochs_at_start = 0
    try:
        if session.dist.is_main:
            _require_writable_outputs(session)
        events_before = _event_files(session.path_var("MMAR_CKPT_DIR"))
        train_section, validate_section = build_sections(session, bool(session.var("amp", False)))
        trainer = train_section.get("trainer")
        evaluator = validate_section.get_optional("evaluator") if validate_section else None
        dist = session.dist
        join_evaluation_with_empty_shards(evaluator, dist.world_size)
        key_metric = _key_metric_name(evaluator)
        history = History(key_metric, reduce_loss=lambda x: _mean_over_ranks(dist, x))
        history.attach(trainer, evaluator)
        if dist.is_main:
            EpochProgress().attach(trainer)
            EpochLog(history, getattr(trainer, "optimizer", None)).attach(trainer)
        ckpt_dir = session.path_var("MMAR_CKPT_DIR")
        parts = _training_parts(session, trainer, train_section, validate_section, history)
        config_loaders = _config_checkpoint_loaders(train_section)
        _refuse_unreadable_loader_files(config_loaders)
        resumed_from = _start_from(session, parts, ckpt_dir, bool(config_loaders), options.resume)
        epochs_at_start = len(history.epochs)
        interval = _checkpoint_interval(session)
        if dist.is_main:
            ckpt_dir.mkdir(parents=True, exist_ok=True)
            if interval:
                ResumeCheckpointer(parts, ckpt_dir, interval).attach(trainer)
        _log_start(session, trainer)
        started = time.monotonic()
        if trainer.state.epoch < trainer.state.max_epochs:
            try:
                trainer.run()
            except BaseException:
                if dist.is_main:
                    _say_how_to_continue(ckpt_dir, interval)
                raise
        else:
            log.info(
                "nothing to do: the checkpoint has already trained %d of %d epochs "
                "(raise epochs with --set epochs=N to continue)",
                trainer.state.epoch,
                trainer.state.max_epochs,
            )
        result = TrainResult(
            ckpt_dir=ckpt_dir,
            epochs_run=int(trainer.state.epoch),
            iterations=int(trainer.state.iteration),
            history=history.epochs,
            losses=history.losses,
            key_metric=key_metric,
            resumed_from=resumed_from,
        )
        if evaluator is not None and key_metric and evaluator.state.best_metric_epoch >= 0:
            result.best_metric = float(evaluator.state.best_metric)
            result.best_epoch = int(evaluator.state.best_metric_epoch)
        if dist.is_main:
            _write_curves(history.epochs, ckpt_dir)
            if options.write_train_stats:
                write_train_stats(result, time.monotonic() - started)
        return result
    except BaseException:
        failed_early = not _completed_an_epoch(history, epochs_at_start)
        if session.dist.is_main and events_before is not None and failed_early:
            _discard_new_event_files(session.path_var("MMAR_CKPT_DIR"), events_before)
        raise
    finally:
        distributed.shutdown(session.dist)


#: Handler arguments that name a folder the run writes to (TensorBoard, checkpoint savers).
_OUTPUT_FOLDER_ARGS = ("log_dir", "save_dir", "output_dir")


def _require_writable_outputs(session: Session) -> None:
    """Refuse, before anything is built, a checkpoint or TensorBoard folder we cannot write.

    Otherwise TensorBoard's writer thread fails in the background and the first checkpoint
    save fails only after a whole epoch.
    """
    from clara_cli.io.writable import require_writable_folder

    require_writable_folder(session.path_var("MMAR_CKPT_DIR"), "checkpoint folder MMAR_CKPT_DIR")
    for key, folder in _output_folders(session.conf):
        require_writable_folder(folder, f"folder of `{key}`")


def _output_folders(node: Any) -> list[tuple[str, str]]:
    """(argument name, folder) of every resolved output-folder argument in `node`."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _OUTPUT_FOLDER_ARGS and isinstance(value, str) and "{" not in value:
                found.append((key, value))
            else:
                found.extend(_output_folders(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_output_folders(item))
    return found


def _event_files(folder: Path) -> set[Path]:
    return set(folder.rglob("events.out.tfevents.*")) if folder.is_dir() else set()


def _completed_an_epoch(history: Any, epochs_at_start: int) -> bool:
    return history is not None and len(history.epochs) > epochs_at_start


def _discard_new_event_files(folder: Path, before: set[Path]) -> None:
    """A run that failed before finishing an epoch leaves no TensorBoard files: they hold no
    curve (later failures keep theirs: the curves up to the failure help find its cause)."""
    for path in _event_files(folder) - before:
        path.unlink(missing_ok=True)


def _training_parts(
    session: Session, trainer: Any, train_section: Any, validate_section: Any, history: Any
) -> Any:
    from monai.handlers import CheckpointSaver

    from clara_cli.engine.resume import TrainingParts

    savers = [
        h
        for section in (train_section, validate_section)
        if section is not None
        for h in (section.get_optional("handlers") or [])
        if isinstance(h, CheckpointSaver)
    ]
    return TrainingParts(
        trainer=trainer,
        model=train_section.get("model"),
        optimizer=train_section.get_optional("optimizer"),
        lr_scheduler=train_section.get_optional("lr_scheduler"),
        evaluator=validate_section.get_optional("evaluator") if validate_section else None,
        savers=savers,
        history=history,
        conf=session.conf,
    )


def _start_from(
    session: Session, parts: Any, ckpt_dir: Path, config_loads_ckpt: bool, resume: bool
) -> int | None:
    """Resume (`--resume`) or finetune (`dont_load_ckpt_model: false`); the epoch resumed at."""
    # Not imported as `resume`: that would shadow the flag and make every run resume.
    from clara_cli.engine import resume as resuming
    from clara_cli.mmar.resolver import _truthy

    device = session.dist.device
    if session.dist.is_main:
        resuming.remove_stale_temporaries(ckpt_dir)
    if resume:
        path = resuming.find_resume_checkpoint(ckpt_dir)
        if path is not None:
            epoch = resuming.restore(parts, path, device)
            if session.dist.is_main:
                log.info("resuming from %s (epoch %d done)", path.name, epoch)
            return epoch
        if session.dist.is_main:
            log.warning("--resume: no checkpoint in %s yet; training from the start", ckpt_dir)
    finetune = session.var("dont_load_ckpt_model")
    if finetune is not None and not _truthy(finetune) and not config_loads_ckpt:
        path = session.path_var("MMAR_CKPT")
        resuming.load_weights(parts.model, path, device)
        if session.dist.is_main:
            log.info("finetuning from %s (weights only; optimizer and epochs start fresh)", path)
    return None


def _say_how_to_continue(ckpt_dir: Path, interval: int) -> None:
    """After a failed or interrupted run: what was kept, and how `--resume` continues."""
    from clara_cli.engine.resume import find_resume_checkpoint

    path = find_resume_checkpoint(ckpt_dir) if interval else None
    if path is None:
        log.warning("training stopped before its first resume checkpoint; nothing was saved")
        return
    log.warning(
        "training stopped; %s is kept (no final model was written): run the same command "
        "with --resume to continue from it",
        path,
    )


def _config_checkpoint_loaders(train_section: Any) -> list[Any]:
    from monai.handlers import CheckpointLoader

    # A config that loads MMAR_CKPT with its own handler (Clara's config_finetune.json).
    return [
        h for h in train_section.get_optional("handlers") or [] if isinstance(h, CheckpointLoader)
    ]


def _refuse_unreadable_loader_files(loaders: list[Any]) -> None:
    """Check the files of the config's CheckpointLoaders as clara's own loading does.

    MONAI's loader reads them only when training starts, and a refused file then surfaces
    as torch's message (which advises loading with weights_only=False). The file is read
    twice, once here: finetuning is started rarely and the safety is worth the second read.
    """
    from clara_cli.engine.checkpoint import load_checkpoint

    for loader in loaders:
        load_checkpoint(loader.load_path)


def _checkpoint_interval(session: Session) -> int:
    value = session.var("checkpoint_interval", 1)
    try:
        interval = int(value)
    except (TypeError, ValueError):
        interval = -1
    if interval < 0 or isinstance(value, bool):
        raise ConfigError(
            f"checkpoint_interval must be a whole number of epochs (0 turns resume "
            f"checkpoints off), not {value!r}"
        )
    return interval


def _key_metric_name(evaluator: Any) -> str | None:
    if evaluator is None:
        return None
    return getattr(evaluator.state, "key_metric_name", None) or next(
        iter(getattr(evaluator, "_key_metric_names", []) or []), None
    )


def _mean_over_ranks(dist: Any, value: float) -> float:
    if dist.world_size <= 1:
        return value
    from clara_cli.launch.process_group import all_gather_objects

    values = all_gather_objects(dist, value)
    return float(sum(values) / len(values))


def _log_start(session: Session, trainer: Any) -> None:
    if not session.dist.is_main:
        return
    loader = trainer.data_loader
    n = len(loader.dataset) if hasattr(loader, "dataset") else "?"
    batch = getattr(loader, "batch_size", None)
    world = session.dist.world_size
    per_step = f"; global batch {batch} x {world} rank(s)" if batch and world > 1 else ""
    log.info(
        "training %s: %s epochs, %s training cases per rank, %d rank(s) on %s%s",
        session.mmar.mmar_root.name,
        trainer.state.max_epochs,
        n,
        world,
        session.dist.device,
        per_step,
    )


def write_train_stats(result: TrainResult, seconds: float) -> Path:
    """Write `train_stats.json` beside the checkpoints, as Clara's `--write_train_stats` did:
    the training time, the epochs and iterations run, and the best key metric with its epoch
    (null when the run validated nothing)."""
    import json

    from clara_cli.io.atomic import atomic_write_text

    stats = {
        "total_time": round(seconds, 3),
        "total_epochs": result.epochs_run,
        "total_iterations": result.iterations,
        "key_metric": result.key_metric,
        "best_key_metric": result.best_metric,
        "best_key_metric_epoch": result.best_epoch,
    }
    path = result.ckpt_dir / "train_stats.json"
    atomic_write_text(path, json.dumps(stats, indent=2) + "\n")
    return path


def _write_curves(history: list[dict[str, Any]], ckpt_dir: Path) -> None:
    if not history:
        return
    try:
        from clara_cli.report.figures import plot_train_curves
    except ImportError:  # the reports module is optional for training
        return
    plot_train_curves(history, ckpt_dir / "train_curves.png")
