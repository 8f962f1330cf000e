"""`clara validate` for DeepGrow: Dice against the number of simulated clicks.

For every sample of the validation list (one organ of one case), clicks are simulated as in
training (see :mod:`simulate`) and the Dice is recorded after 1, 2, ... N clicks, N being
the config's `max_interactions` + 1 (the initial seed plus every corrective click; the last
point is what Clara's own validation reported). Dice is measured where the network works: on
the organ's crop, resized to the model size, as in training. Every rank scores its share;
rank 0 writes `dice_per_click.csv`, `metrics_summary.json` and `dice_vs_clicks.png` under
MMAR_EVAL_OUTPUT_PATH.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clara_cli.errors import ConfigError
from clara_cli.workflows.session import RunRequest, Session, open_session

log = logging.getLogger("clara")


@dataclass(frozen=True)
class DeepgrowValidateOptions:
    """Options beyond the config.

    Attributes:
        clicks: clicks per sample; None: the config's `max_interactions` + 1.
        progress: log one line per sample (rank 0).
    """

    clicks: int | None = None
    progress: bool = True


@dataclass
class ClickValidationResult:
    """Rows (one per sample and click count), their summary, and where the report went."""

    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    output_dir: Path
    metrics: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        """The terminal summary."""
        from clara_cli.families.deepgrow.report import format_click_summary

        return format_click_summary(self.summary)


class DeepgrowValidateWorkflow:
    """Dice against simulated clicks, per sample (case and organ)."""

    name = "deepgrow_validate"
    command = "validate"
    default_config = "config/config_validation.json"
    options_type = DeepgrowValidateOptions

    def run(self, request: RunRequest, options: DeepgrowValidateOptions) -> ClickValidationResult:
        """Validate this rank's share of the samples."""
        return validate_clicks(request, options)


#: Named in the family's FAMILY.workflows (clara_cli/families/deepgrow/__init__.py).
WORKFLOW = DeepgrowValidateWorkflow()


def validate_clicks(
    request: RunRequest, options: DeepgrowValidateOptions | None = None
) -> ClickValidationResult:
    """Simulate clicks on every validation sample; rank 0 writes the report.

    Raises:
        ConfigError: the config lacks pre_transforms, an `iteration` with click transforms,
            or a dataset to read the samples from.
    """
    from clara_cli.families.deepgrow.report import summarize_clicks, write_click_report
    from clara_cli.families.deepgrow.simulate import simulate_clicks
    from clara_cli.io.datalist import shard
    from clara_cli.launch import process_group as distributed
    from clara_cli.workflows.session import random_seed

    options = options or DeepgrowValidateOptions()
    session = open_session(request)
    try:
        model, clicks = _click_model(session, options)
        items = _samples(session)
        seed = random_seed(session) or 0
        rows: list[dict[str, Any]] = []
        for item in shard(items, session.dist.rank, session.dist.world_size):
            sample = {k: item.get(k) for k in ("case", "region")}
            sample["organ"] = item.get("organ") or f"label_{item.get('region', '?')}"
            sample_rows = [{**sample, **row} for row in simulate_clicks(model, item, clicks, seed)]
            rows.extend(sample_rows)
            if options.progress and session.dist.is_main:
                curve = " ".join(_fmt(r["dice"]) for r in sample_rows)
                log.info("%s %s: Dice by clicks %s", sample["case"], sample["organ"], curve)
        if session.dist.world_size > 1:
            rows = [r for part in distributed.all_gather_objects(session.dist, rows) for r in part]
        rows.sort(key=lambda r: (str(r["case"]), str(r["organ"]), r["clicks"]))
        summary = summarize_clicks(rows, seed)
        output_dir = session.path_var("MMAR_EVAL_OUTPUT_PATH")
        if session.dist.is_main:
            write_click_report(rows, summary, output_dir)
        metrics = {"mean_dice": summary["mean_dice"]} if summary["mean_dice"] is not None else {}
        return ClickValidationResult(rows, summary, output_dir, metrics)
    finally:
        distributed.shutdown(session.dist)


def _click_model(session: Session, options: DeepgrowValidateOptions) -> tuple[Any, int]:
    from monai.transforms import Compose

    from clara_cli.engine.amp import resolve_amp
    from clara_cli.engine.inference import prepare_for_inference
    from clara_cli.families.deepgrow.simulate import ClickModel
    from clara_cli.workflows.sections import evaluation_section

    section = evaluation_section(session, "validate", ("pre_transforms", "iteration"))
    where = str(session.mmar.config_file)
    iteration = section.get("iteration")
    transforms = getattr(iteration, "transforms", None)
    if transforms is None or not hasattr(iteration, "max_interactions"):
        raise ConfigError(
            f"{where}: iteration: DeepGrow validation needs MONAI's click Interaction "
            "(monai.apps.deepgrow.interaction.Interaction with transforms and max_interactions)"
        )
    clicks = options.clicks or int(iteration.max_interactions) + 1
    if clicks < 1:
        raise ConfigError(f"{where}: the number of clicks must be at least 1, not {clicks}")
    amp = resolve_amp(bool(session.var("amp", False)), session.dist.device)
    network = prepare_for_inference(section.get("model"), amp.dtype if amp.enabled else None)
    model = ClickModel(
        pre_transforms=section.get("pre_transforms"),
        click_transforms=transforms if isinstance(transforms, Compose) else Compose(transforms),
        network=network,
        inferer=section.get("inferer"),
        post_transforms=section.get_optional("post_transforms"),
        device=session.dist.device,
    )
    return model, clicks


def _samples(session: Session) -> list[dict[str, Any]]:
    from clara_cli.io.datalist import load_datalist

    spec = session.conf.get("dataset")
    where = str(session.mmar.config_file)
    if not isinstance(spec, dict) or "data_list_file_path" not in spec:
        raise ConfigError(f"{where}: no 'dataset' with a data_list_file_path to validate on")
    base = spec.get("data_file_base_dir") or session.var("DATA_ROOT") or ""
    items = load_datalist(
        spec["data_list_file_path"], spec.get("data_list_key", "validation"), base
    )
    if len(items) < session.dist.world_size:
        raise ConfigError(
            f"{where}: {len(items)} validation sample(s) for {session.dist.world_size} processes"
        )
    return items


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
