"""`clara validate`: score the model on the validation list, write the report.

Every rank scores its share of the cases; rank 0 gathers the rows and writes the per-case
table, the summary, the Dice chart and overlays, the page that shows them all
(report.html), then the claiming model family's report
extras (if any).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clara_cli.workflows.sections import evaluation_section
from clara_cli.workflows.session import RunRequest, Session, open_session

log = logging.getLogger("clara")


@dataclass(frozen=True)
class ValidateOptions:
    """`clara validate`'s own options (none yet beyond the request)."""


@dataclass
class ValidationResult:
    """Per-case scores and their summary (complete on rank 0)."""

    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    output_dir: Path
    metrics: dict[str, float] = field(default_factory=dict)


class ValidateWorkflow:
    """Evaluation with the config's evaluator, and clara's per-case report."""

    name = "validate"
    command = "validate"
    default_config = "config/config_validation.json"
    options_type = ValidateOptions
    #: section -> the keys it builds itself (what `mmar.early_check` follows).
    builds = {"validate": ("evaluator",)}

    def run(self, request: RunRequest, options: ValidateOptions) -> ValidationResult:
        """Validate in this process (one rank of the job)."""
        return validate(request, options)


#: Registered lazily by name in clara_cli.workflows.base.
WORKFLOW = ValidateWorkflow()


def validate(request: RunRequest, options: ValidateOptions | None = None) -> ValidationResult:
    """Run the validation workflow; rank 0 writes the per-case table, summary and figures."""
    from clara_cli.engine.empty_shard import join_evaluation_with_empty_shards
    from clara_cli.launch import process_group as distributed

    session = open_session(request)
    try:
        output_dir = session.path_var("MMAR_EVAL_OUTPUT_PATH")
        if session.dist.is_main:  # checked now, not after a whole validation
            from clara_cli.io.writable import require_writable_folder

            require_writable_folder(output_dir, "evaluation folder MMAR_EVAL_OUTPUT_PATH")
        section = evaluation_section(session)
        evaluator = section.get("evaluator")
        join_evaluation_with_empty_shards(evaluator, session.dist.world_size)
        class_names = _class_names(session)
        # Every rank keeps its overlay slices: rank 0 gathers them for the report.
        recorder = _recorder_type(session)(class_names, keep_slices=True)
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
        from clara_cli.report.tables import summarize

        summary = summarize(rows)
        if session.dist.is_main:
            _write_report(rows, summary, slices, output_dir)
            _write_html_report(session, rows, summary, output_dir)
            _write_family_report(session, rows, summary, output_dir)
        # The evaluator's metrics are already reduced over ranks (MONAI all-gathers them).
        metrics = {
            k: float(v) for k, v in evaluator.state.metrics.items() if isinstance(v, (int, float))
        }
        return ValidationResult(rows, summary, output_dir, metrics)
    finally:
        distributed.shutdown(session.dist)


def _write_family_report(
    session: Session, rows: list[dict[str, Any]], summary: dict[str, Any], output_dir: Path
) -> None:
    from clara_cli.families import family_for

    family = family_for(session.variables)
    if family is not None:
        family.write_report(rows, summary, output_dir, session.variables)


def _write_html_report(
    session: Session, rows: list[dict[str, Any]], summary: dict[str, Any], output_dir: Path
) -> Path:
    """eval/report.html, from the figures `_write_report` just wrote."""
    from clara_cli.report.event_curves import training_curves
    from clara_cli.report.html_report import ReportInputs, write_html_report
    from clara_cli.workflows.run_record import models_read

    mmar = session.mmar
    about = {"MMAR": str(mmar.mmar_root), "config": str(mmar.config_file)}
    models = models_read("validate", mmar)
    if models:
        about["model"] = ", ".join(str(m) for m in models)
    ckpt_dir = session.var("MMAR_CKPT_DIR")
    curves = training_curves(Path(ckpt_dir) if ckpt_dir else None, output_dir / "train_curves.png")
    overlays = {
        row["case"]: output_dir / "overlays" / f"{row['case']}.png"
        for row in rows
        if (output_dir / "overlays" / f"{row['case']}.png").is_file()
    }
    inputs = ReportInputs(mmar.mmar_root.name, about, output_dir / "dice_per_case.png", overlays)
    if curves is not None:
        inputs.curves, inputs.curves_source = curves
    return write_html_report(rows, summary, inputs, output_dir / "report.html")


def _recorder_type(session: Session) -> type:
    """The case recorder: one-hot/argmax classes, or `multi_label: true` sigmoid regions."""
    multi_label = session.var("multi_label", False)
    if str(multi_label).strip().lower() in ("true", "1", "yes"):
        from clara_cli.workflows.region_recorder import RegionCaseRecorder

        return RegionCaseRecorder
    from clara_cli.engine.case_recorder import CaseRecorder

    return CaseRecorder


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
