"""Cache sizes honoured and reported: one line when most of a datalist is not cached.

A config's ``cache_num``/``cache_rate`` is kept as written (memory is the user's call), but an
uncached item runs every deterministic transform (loading, resampling) on each visit, so a
Clara config with ``cache_num: 4`` on a 32-case datalist spends most of its time there. When
fewer than half of the items are cached, one line says how many and what caching all of them
would take, estimated from one cached item (arrays, tensors and index lists).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from clara_cli.engine.wiring.predicates import subclass_of
from clara_cli.engine.wiring.rules import BuildContext, Rule

log = logging.getLogger("clara")


def nbytes(value: Any) -> int:
    """Bytes held by the arrays and tensors in `value` (dicts, lists and tuples walked)."""
    if hasattr(value, "element_size") and hasattr(value, "numel"):  # torch.Tensor, MetaTensor
        return int(value.element_size() * value.numel())
    if hasattr(value, "nbytes"):  # numpy
        return int(value.nbytes)
    if isinstance(value, Mapping):
        return sum(nbytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(nbytes(v) for v in value)
    return 0


def cache_summary(dataset: Any) -> str | None:
    """The line to print about `dataset`'s cache, or None when at least half is cached."""
    total = len(dataset.data)
    cached = int(dataset.cache_num)
    if total == 0 or 2 * cached >= total:
        return None
    sample = next((item for item in dataset._cache if item is not None), None)
    if sample is None:
        estimate = "no item is cached yet to estimate what caching all would take"
    else:
        each = nbytes(sample)
        estimate = (
            f"caching all would take about {_size(each * total)} "
            f"({_size(each)} per item, from one cached item); raise cache_num/cache_rate "
            "if that fits in memory"
        )
    return (
        f"{cached} of {total} items cached (cache_num/cache_rate); the other {total - cached} "
        f"run every transform on each visit; {estimate}"
    )


def _size(count: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


def _report(ctx: BuildContext) -> Any:
    line = cache_summary(ctx.obj)
    if line is not None:
        log.info("%s: %s", ctx.where, line)
    return ctx.obj


RULES = (
    Rule(
        "cache_report.partial_cache",
        # SmartCacheDataset caches a part by design and replaces it as training runs.
        subclass_of("monai.data.CacheDataset", exclude=("monai.data.SmartCacheDataset",)),
        after=_report,
    ),
)
