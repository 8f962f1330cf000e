"""PersistentDataset without `cache_dir`: a cache folder under the run's output.

MONAI 0.x made `cache_dir` optional (Clara 4.0/4.1 configs leave it out); today it is
required. Such a dataset caches to `<output>/cache/persistent/<section>`, where `<output>`
is the folder that holds the run's models (the parent of MMAR_CKPT_DIR, so MMAR_ROOT unless
the models are written elsewhere): beside `models/`, never in the datalist's folder. The
filled arguments keep what MONAI 0.x cached and refuse what it did not:

- `hash_transform=transform_hash`: the cached file's name includes the deterministic
  pre-transforms and their arguments, so editing the config never reuses a stale cache;
- `track_meta=True`: each image keeps its metadata in the cache (MONAI 0.x cached the
  `*_meta_dict` beside the array), which `Invertd`/`SaveImaged` need on later epochs;
- `weights_only=False`: a MetaTensor cannot be read back with `weights_only=True`; the
  folder holds only what this run's PersistentDataset wrote.

A `cache_dir` (or any of these) written in the config is kept as written.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import pickle
from pathlib import Path
from typing import Any

from clara_cli.engine.wiring.predicates import subclass_of
from clara_cli.engine.wiring.rules import BuildContext, Rule

log = logging.getLogger("clara")
CACHE_SUBDIR = Path("cache") / "persistent"
_said: set[str] = set()


def cache_folder(variables: dict[str, object], section: str) -> Path:
    """`<parent of MMAR_CKPT_DIR>/cache/persistent/<section>` (MMAR_ROOT/models by default)."""
    ckpt_dir = variables.get("MMAR_CKPT_DIR")
    if isinstance(ckpt_dir, str) and ckpt_dir and "{" not in ckpt_dir:
        output = Path(ckpt_dir).parent
    else:
        output = Path(str(variables.get("MMAR_ROOT", "."))).resolve()
    return output / CACHE_SUBDIR / section


def transform_hash(transforms: list[Any]) -> bytes:
    """A digest of the deterministic pre-transforms, for PersistentDataset's cache names.

    MONAI's `pickle_hashing` fails on a transform that cannot be pickled (a class defined in
    a function, a lambda argument); such a transform counts by its class and attributes, so
    the cache is still keyed by it (an attribute shown as an address changes every run: the
    cache is then never reused, never stale).
    """
    digest = hashlib.sha256()
    for transform in transforms:
        try:
            digest.update(pickle.dumps(transform))
        except Exception:  # noqa: BLE001 - any pickling failure: describe it instead
            kind = type(transform)
            attributes = sorted(vars(transform).items()) if hasattr(transform, "__dict__") else []
            digest.update(f"{kind.__module__}.{kind.__qualname__}{attributes!r}".encode())
    return digest.hexdigest().encode("utf-8")


def _without_cache_dir(ctx: BuildContext) -> bool:
    """The config leaves out a `cache_dir` that today's class requires (LMDBDataset, whose
    cache_dir has a default, is left alone)."""
    if "cache_dir" in (ctx.spec.get("args") or {}):
        return False
    try:
        parameter = inspect.signature(ctx.target).parameters.get("cache_dir")
    except (TypeError, ValueError):
        return False
    return parameter is not None and parameter.default is inspect.Parameter.empty


def _note(ctx: BuildContext) -> str:
    folder = cache_folder(ctx.facts.variables, ctx.section.name)
    return (
        f"PersistentDataset: no cache_dir (optional in MONAI 0.x); caching to {folder} "
        "(keyed by item and pre-transforms, metadata kept)"
    )


def _fill_cache_dir(ctx: BuildContext) -> None:
    folder = cache_folder(ctx.facts.variables, ctx.section.name)
    # mkdir with exist_ok is safe when several ranks create it at once, and an empty folder
    # is never half-written; MONAI writes each cached item to a temporary file and renames it.
    folder.mkdir(parents=True, exist_ok=True)
    ctx.fill("cache_dir", folder)
    ctx.fill("hash_transform", transform_hash)
    ctx.fill("track_meta", True)
    ctx.fill("weights_only", False)
    if ctx.facts.rank == 0 and ctx.where not in _said:
        _said.add(ctx.where)
        log.info("%s: %s", ctx.where, _note(ctx))


RULES = (
    Rule(
        "persistent_cache.cache_dir",
        lambda ctx: subclass_of("monai.data.PersistentDataset")(ctx) and _without_cache_dir(ctx),
        before=_fill_cache_dir,
        note=_note,
    ),
)
