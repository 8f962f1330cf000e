"""Train and validate workflows assembled from an MMAR's built components.

`train()` and `validate()` are what `clara train` / `clara validate` call (in every rank of a
distributed job); they return plain results that tests can inspect.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clara_cli.engine.session import RunRequest, Session, open_session
from clara_cli.errors import ConfigError

log = logging.getLogger("clara")


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


@dataclass
class ValidationResult:
    """Per-case scores and their summary (complete on rank 0)."""

    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    output_dir: Path
    metrics: dict[str, float] = field(default_factory=dict)


def section_runtime(session: Session, amp_requested: bool) -> Any:
    """The Runtime (rank, device, wiring hooks) config sections of this run are built with.

    `amp_requested` is the config's `amp`: CUDA AMP in MONAI's engines, or CPU bf16 autocast
    around the network (see engine/amp.py).
    """
    from clara_cli.engine.amp import resolve_amp
    from clara_cli.engine.compute import NetworkPreparer
    from clara_cli.engine.wiring import Wiring
    from clara_cli.mmar.resolver import Runtime

    dist = session.dist
    amp = resolve_amp(amp_requested, dist.device)
    wiring = Wiring(
        session.variables,
        dist.device,
        rank=dist.rank,
        world_size=dist.world_size,
        amp_enabled=amp.enabled and amp.device_type == "cuda",
        prepare_network=NetworkPreparer(
            dist, amp.dtype if amp.enabled and amp.device_type == "cpu" else None
        ),
    )
    return Runtime(dist.rank, dist.world_size, str(dist.device), wiring.hooks())


def build_sections(session: Session, amp_requested: bool) -> tuple[Any, Any]:
    """The train and validate Sections of a training config, wired for this rank."""
    from clara_cli.mmar.resolver import Section

    conf = session.conf
    if "train" not in conf:
        raise ConfigError(
            f"{session.mmar.config_file}: no 'train' section: is this a training config?"
        )
    runtime = section_runtime(session, amp_requested)
    source = str(session.mmar.config_file)
    train = Section("train", conf["train"], source, runtime, conf)
    validate = None
    if isinstance(conf.get("validate"), dict):
        validate = Section("validate", conf["validate"], source, runtime, conf, fallback=train)
        train.links["evaluator"] = lambda: validate.get("evaluator")
    return train, validate


def train(request: RunRequest) -> TrainResult:
    """Run the training workflow of `request` in this process (one rank of the job).

    With `request.resume` the run continues from the newest checkpoint in MMAR_CKPT_DIR;
    with `dont_load_ckpt_model: false` it starts from MMAR_CKPT's weights (finetuning).
    """
    from clara_cli.engine import distributed
    from clara_cli.engine.handlers import EpochProgress, History
    from clara_cli.engine.resume import ResumeCheckpointer

    session = open_session(request)
    try:
        train_section, validate_section = build_sections(session, bool(session.var("amp", False)))
        trainer = train_section.get("trainer")
        evaluator = validate_section.get_optional("evaluator") if validate_section else None
        dist = session.dist
        key_metric = _key_metric_name(evaluator)
        history = History(key_metric, reduce_loss=lambda x: _mean_over_ranks(dist, x))
        history.attach(trainer, evaluator)
        if dist.is_main:
            EpochProgress().attach(trainer)
        ckpt_dir = session.path_var("MMAR_CKPT_DIR")
        parts = _training_parts(session, trainer, train_section, validate_section, history)
        resumed_from = _start_from(
            session, parts, ckpt_dir, _loads_checkpoint_itself(train_section)
        )
        interval = _checkpoint_interval(session)
        if dist.is_main:
            ckpt_dir.mkdir(parents=True, exist_ok=True)
            if interval:
                ResumeCheckpointer(parts, ckpt_dir, interval).attach(trainer)
        _log_start(session, trainer)
        if trainer.state.epoch < trainer.state.max_epochs:
            trainer.run()
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
        return result
    finally:
        distributed.shutdown(session.dist)


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
    session: Session, parts: Any, ckpt_dir: Path, config_loads_ckpt: bool
) -> int | None:
    """Resume (`--resume`) or finetune (`dont_load_ckpt_model: false`); the epoch resumed at."""
    from clara_cli.engine import resume
    from clara_cli.mmar.resolver import _truthy

    device = session.dist.device
    if session.dist.is_main:
        resume.remove_stale_temporaries(ckpt_dir)
    if session.request.resume:
        path = resume.find_resume_checkpoint(ckpt_dir)
        if path is not None:
            epoch = resume.restore(parts, path, device)
            if session.dist.is_main:
                log.info("resuming from %s (epoch %d done)", path.name, epoch)
            return epoch
        if session.dist.is_main:
            log.warning("--resume: no checkpoint in %s yet; training from the start", ckpt_dir)
    finetune = session.var("dont_load_ckpt_model")
    if finetune is not None and not _truthy(finetune) and not config_loads_ckpt:
        path = session.path_var("MMAR_CKPT")
        resume.load_weights(parts.model, path, device)
        if session.dist.is_main:
            log.info("finetuning from %s (weights only; optimizer and epochs start fresh)", path)
    return None


def _loads_checkpoint_itself(train_section: Any) -> bool:
    from monai.handlers import CheckpointLoader

    # A config that loads MMAR_CKPT with its own handler (Clara's config_finetune.json).
    return any(
        isinstance(h, CheckpointLoader) for h in train_section.get_optional("handlers") or []
    )


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
    from clara_cli.engine.distributed import all_gather_objects

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


def _write_curves(history: list[dict[str, Any]], ckpt_dir: Path) -> None:
    if not history:
        return
    try:
        from clara_cli.report.figures import plot_train_curves
    except ImportError:  # the reports module is optional for training
        return
    plot_train_curves(history, ckpt_dir / "train_curves.png")


def validation_section(session: Session) -> Any:
    """The top-level Section of a validation/inference config, its model provided."""
    from clara_cli.engine.model_loading import is_loader_spec, load_network
    from clara_cli.mmar import layout
    from clara_cli.mmar.resolver import Section

    conf = session.conf
    runtime = section_runtime(session, bool(session.var("amp", False)))
    spec = {k: conf[k] for k in layout.SECTION_KEYS if k in conf}
    source = str(session.mmar.config_file)
    if "evaluator" not in spec:
        raise ConfigError(f"{source}: no 'evaluator': is this a validation config?")
    section = Section("validate", spec, source, runtime, conf, prefix="")
    model_spec = spec.get("model")
    if model_spec is None or is_loader_spec(model_spec):
        loaders = model_spec or [{"ckpt_path": str(session.path_var("MMAR_CKPT"))}]
        section.provide("model", load_network(loaders, session, f"{source}: model"))
    return section


def validate(request: RunRequest) -> ValidationResult:
    """Run the validation workflow; rank 0 writes the per-case table, summary and figures."""
    from clara_cli.engine import distributed
    from clara_cli.engine.case_recorder import CaseRecorder

    session = open_session(request)
    try:
        section = validation_section(session)
        evaluator = section.get("evaluator")
        class_names = _class_names(session)
        # Every rank keeps its overlay slices: rank 0 gathers them for the report.
        recorder = CaseRecorder(class_names, keep_slices=True)
        recorder.attach(evaluator)
        if session.dist.is_main:
            from clara_cli.engine.handlers import EpochProgress

            EpochProgress().attach(evaluator)
        evaluator.run()
        rows, slices = recorder.rows, recorder.slices
        if session.dist.world_size > 1:
            gathered = distributed.all_gather_objects(session.dist, (rows, slices))
            rows = [r for part, _ in gathered for r in part]
            slices = {k: v for _, part in gathered for k, v in part.items()}
        rows.sort(key=lambda r: r["case"])
        output_dir = session.path_var("MMAR_EVAL_OUTPUT_PATH")
        from clara_cli.report.tables import summarize

        summary = summarize(rows)
        if session.dist.is_main:
            _write_report(rows, summary, slices, output_dir)
        # The evaluator's metrics are already reduced over ranks (MONAI all-gathers them).
        metrics = {
            k: float(v) for k, v in evaluator.state.metrics.items() if isinstance(v, (int, float))
        }
        return ValidationResult(rows, summary, output_dir, metrics)
    finally:
        distributed.shutdown(session.dist)


def _class_names(session: Session) -> list[str]:
    names = session.var("class_names")
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    return ["class_1"]


def _write_report(
    rows: list[dict[str, Any]], summary: dict[str, Any], slices: dict[str, Any], output_dir: Path
) -> None:
    from clara_cli.report.figures import plot_case_dice, plot_overlay
    from clara_cli.report.tables import write_case_table, write_summary

    output_dir.mkdir(parents=True, exist_ok=True)
    write_case_table(rows, output_dir / "metrics_per_case.csv")
    write_summary(summary, output_dir / "metrics_summary.json")
    plot_case_dice(rows, output_dir / "dice_per_case.png")
    overlays = output_dir / "overlays"
    overlays.mkdir(exist_ok=True)
    for row in rows:
        if row["case"] in slices:
            image, label, pred = slices[row["case"]]
            scores = [v for v in row["dice"].values() if v == v]  # NaN: class absent in both
            title = row["case"] + (f"  Dice {sum(scores) / len(scores):.3f}" if scores else "")
            plot_overlay(
                image,
                label,
                pred,
                overlays / f"{row['case']}.png",
                title,
                class_names=list(row["dice"]),
            )
