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
    history: list[dict[str, Any]] = field(default_factory=list)
    best_metric: float | None = None
    best_epoch: int | None = None
    key_metric: str | None = None


@dataclass
class ValidationResult:
    """Per-case scores and their summary (complete on rank 0)."""

    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    output_dir: Path


def build_sections(session: Session, amp_requested: bool) -> tuple[Any, Any]:
    """The train and validate Sections of a training config, wired for this rank."""
    from clara_cli.engine.amp import resolve_amp
    from clara_cli.engine.compute import NetworkPreparer
    from clara_cli.engine.wiring import Wiring
    from clara_cli.mmar.resolver import Runtime, Section

    conf = session.conf
    if "train" not in conf:
        raise ConfigError(f"{session.mmar.config_file}: no 'train' section: is this a training config?")
    dist = session.dist
    amp = resolve_amp(amp_requested, dist.device)
    wiring = Wiring(
        session.variables,
        dist.device,
        rank=dist.rank,
        world_size=dist.world_size,
        amp_enabled=amp.enabled and amp.device_type == "cuda",
        prepare_network=NetworkPreparer(dist, amp.dtype if amp.enabled and amp.device_type == "cpu" else None),
    )
    runtime = Runtime(dist.rank, dist.world_size, str(dist.device), wiring.hooks())
    source = str(session.mmar.config_file)
    train = Section("train", conf["train"], source, runtime, conf)
    validate = None
    if isinstance(conf.get("validate"), dict):
        validate = Section("validate", conf["validate"], source, runtime, conf, fallback=train)
        train.links["evaluator"] = lambda: validate.get("evaluator")
    return train, validate


def train(request: RunRequest) -> TrainResult:
    """Run the training workflow of `request` in this process (one rank of the job)."""
    from clara_cli.engine import distributed
    from clara_cli.engine.handlers import EpochProgress, History

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
        if dist.is_main:
            ckpt_dir.mkdir(parents=True, exist_ok=True)
        _log_start(session, trainer, train_section)
        trainer.run()
        result = TrainResult(
            ckpt_dir=ckpt_dir,
            epochs_run=int(trainer.state.epoch),
            history=history.epochs,
            key_metric=key_metric,
        )
        if evaluator is not None and key_metric:
            result.best_metric = float(evaluator.state.best_metric)
            result.best_epoch = int(evaluator.state.best_metric_epoch)
        if dist.is_main:
            _write_curves(history.epochs, ckpt_dir)
        return result
    finally:
        distributed.shutdown(session.dist)


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


def _log_start(session: Session, trainer: Any, section: Any) -> None:
    if not session.dist.is_main:
        return
    loader = trainer.data_loader
    n = len(loader.dataset) if hasattr(loader, "dataset") else "?"
    log.info(
        "training %s: %s epochs, %s training cases per rank, %d rank(s) on %s",
        session.mmar.mmar_root.name,
        trainer.state.max_epochs,
        n,
        session.dist.world_size,
        session.dist.device,
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
    from clara_cli.engine.amp import resolve_amp
    from clara_cli.engine.compute import NetworkPreparer
    from clara_cli.engine.model_loading import is_loader_spec, load_network
    from clara_cli.engine.wiring import Wiring
    from clara_cli.mmar import layout
    from clara_cli.mmar.resolver import Runtime, Section

    conf = session.conf
    dist = session.dist
    amp = resolve_amp(bool(session.var("amp", False)), dist.device)
    wiring = Wiring(
        session.variables,
        dist.device,
        rank=dist.rank,
        world_size=dist.world_size,
        amp_enabled=amp.enabled and amp.device_type == "cuda",
        prepare_network=NetworkPreparer(dist, amp.dtype if amp.enabled and amp.device_type == "cpu" else None),
    )
    runtime = Runtime(dist.rank, dist.world_size, str(dist.device), wiring.hooks())
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
        recorder = CaseRecorder(class_names, keep_slices=session.dist.is_main or True)
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
        return ValidationResult(rows, summary, output_dir)
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
            dice = row.get("mean_dice", row.get(next((k for k in row if k.startswith("dice_")), ""), None))
            title = f"{row['case']}" + (f"  Dice {dice:.3f}" if isinstance(dice, float) else "")
            plot_overlay(image, label, pred, overlays / f"{row['case']}.png", title)
