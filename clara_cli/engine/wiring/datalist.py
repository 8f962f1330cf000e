"""Datalists: a Clara dataset names its datalist file; each rank gets its own shard.

`{"name": "CacheDataset", "data_list_file_path": "...", "data_list_key": "training",
"data_file_base_dir": "..."}` becomes `CacheDataset(data=<this rank's items>, transform=...)`.
Training shards are padded to equal length (every rank runs the same number of steps);
evaluation shards are not padded (no case counted twice), so with fewer cases than processes
a rank may have none: it still takes part in the metric reduction, with nothing to add
(:mod:`clara_cli.engine.empty_shard`).
Each image/label pair must share one grid (headers compared when the dataset is built), every
loaded image is checked for NaN/Inf, a failing transform names the item's files
(:mod:`clara_cli.engine.case_errors`), and training items carry their file name to the batch
(see :mod:`clara_cli.engine.finite`).
"""

from __future__ import annotations

from typing import Any

from clara_cli.engine.wiring.predicates import all_of, subclass_of
from clara_cli.engine.wiring.rules import BuildContext, Rule, RunFacts
from clara_cli.errors import DataError


def load_rank_datalist(
    spec: dict[str, Any], facts: RunFacts, where: str, even: bool
) -> list[dict[str, Any]]:
    """This rank's items of the datalist a dataset spec names.

    Args:
        spec: the dataset's config entry (`data_list_file_path`, optional `data_list_key`,
            `data_file_base_dir`; the base defaults to the `DATA_ROOT` variable).
        facts: the run (variables, rank, world_size).
        where: the config key path, for messages.
        even: pad the shards to equal length (training).

    Raises:
        DataError: the datalist cannot be read.
    """
    from clara_cli.io.datalist import load_datalist, shard

    path = spec["data_list_file_path"]
    base = spec.get("data_file_base_dir") or facts.variables.get("DATA_ROOT", "")
    key = spec.get("data_list_key", "training")
    try:
        items = load_datalist(path, key, base)
    except DataError as err:
        raise DataError(f"{where}: {err}") from None
    return shard(items, facts.rank, facts.world_size, even=even)


def require_matching_geometry(items: list[dict[str, Any]], where: str) -> None:
    """Refuse image/label pairs whose headers disagree (size, spacing, origin, direction).

    Only headers are read. A label on another grid than its image trains silently on
    misaligned voxels (or fails deep inside a transform), so this is an error here, where
    `clara prepare-dataset` only warns.

    Raises:
        DataError: naming the first pair(s), both files and what differs.
    """
    from clara_cli.data.prepare import geometry_mismatches

    pairs = [
        item
        for item in items
        if isinstance(item.get("image"), str) and isinstance(item.get("label"), str)
    ]
    unique = list({(p["image"], p["label"]): p for p in pairs}.values())  # shards are padded
    problems = geometry_mismatches("", unique)
    _refuse_unreadable(problems, where)
    if problems:
        more = f"\n  ... and {len(problems) - 3} more pair(s)" if len(problems) > 3 else ""
        listed = "\n  ".join(problems[:3])
        raise DataError(
            f"{where}: image and label are not on the same grid:\n  {listed}{more}\n"
            "  resample each label onto its image (or fix the header), or remove the case; "
            "`clara prepare-dataset` lists every such pair"
        )


def _refuse_unreadable(problems: list[str], where: str) -> None:
    """Files whose header cannot be read are not a grid mismatch: say what they are."""
    import os

    suffix = ": unreadable header"
    files = [p[: -len(suffix)] for p in problems if p.endswith(suffix)]
    if not files:
        return
    shown = [
        f"{f} ({'empty' if os.path.getsize(f) == 0 else 'not a readable image'})" for f in files
    ]
    more = f"\n  ... and {len(shown) - 3} more" if len(shown) > 3 else ""
    listed = "\n  ".join(shown[:3])
    raise DataError(
        f"{where}: {len(files)} file(s) cannot be read as images (empty, truncated or not an "
        f"image file):\n  {listed}{more}\n"
        "  fix or replace them, or remove these cases from the datalist"
    )


def _names_datalist(ctx: BuildContext) -> bool:
    return "data_list_file_path" in ctx.spec


def _dataset_items(ctx: BuildContext) -> None:
    from clara_cli.engine.finite import CASE_KEY, case_label, with_finite_checks

    # The datalist is the spec's own way of giving `data`: it replaces, not fills.
    even = ctx.section.name == "train"
    items = load_rank_datalist(ctx.spec, ctx.facts, ctx.where, even=even)
    require_matching_geometry(items, ctx.where)
    if even:
        # Tagged so that a diverging batch can name its cases (metadata is often dropped).
        items = [{**item, CASE_KEY: case_label(item)} for item in items]
    ctx.args["data"] = items
    ctx.fill_from_key("transform", "pre_transforms")
    if "transform" in ctx.args:
        from clara_cli.engine.case_errors import naming_cases

        # Checked for NaN/Inf after loading; any failure names the item's files.
        ctx.args["transform"] = naming_cases(with_finite_checks(ctx.args["transform"]))


RULES = (
    Rule(
        "datalist.dataset_items",
        all_of(_names_datalist, subclass_of("torch.utils.data.Dataset")),
        before=_dataset_items,
    ),
)
