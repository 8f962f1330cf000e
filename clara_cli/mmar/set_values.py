"""`--set` values checked before a run: the key must be read by something, the value must fit.

Clara's `--set` was untyped: `epochs=abc` failed deep inside ignite, `amp=maybe` switched AMP
on, `pixdim=[2,2]` reached a 3D transform and `epoch=1` (for `epochs`) was ignored while 1260
epochs started. Here each value is checked against the variable it replaces (same JSON type,
same length for a list of numbers) and, for the switches clara itself reads, against a sane
range; a key that no config, environment.json or clara reads is refused with a did-you-mean.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from clara_cli.errors import OverrideError
from clara_cli.mmar import layout

_REFERENCE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _whole(low: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            return f"a whole number >= {low}"
        return None

    return check


def _switch(value: Any) -> str | None:
    # The library API may be handed the text a config would hold ("true"), not only a bool.
    ok = isinstance(value, bool) or (
        isinstance(value, str) and value.strip().lower() in ("true", "false")
    )
    return None if ok else "true or false"


def _non_negative_number(value: Any) -> str | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return None if ok and math.isfinite(value) and value >= 0 else "a number >= 0"


def _sizes(value: Any) -> str | None:
    ok = isinstance(value, list) and bool(value) and all(_whole(1)(v) is None for v in value)
    return None if ok else "a list of whole numbers >= 1, e.g. [96,96,96]"


def _spacing(value: Any) -> str | None:
    # MONAI's Spacing keeps an axis's own spacing where pixdim is <= 0 (e.g. [4,4,-1]).
    ok = isinstance(value, list) and bool(value)
    ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    return None if ok else "a list of numbers, e.g. [1.5,1.5,2.0]"


#: What clara (or a Clara config by convention) expects of the variables it knows.
KNOWN: dict[str, Callable[[Any], str | None]] = {
    "epochs": _whole(1),
    "num_interval_per_valid": _whole(1),
    "checkpoint_interval": _whole(0),
    "batch_size": _whole(1),
    "num_workers": _whole(0),
    "num_samples": _whole(1),
    "learning_rate": _non_negative_number,  # 0: weights frozen
    "amp": _switch,
    "compile": _switch,
    "windows_per_pass": _whole(0),
    "channels_last": _switch,
    "onednn_conv3d": _switch,
    "bf16_pooling": _switch,
    "labels_first": _switch,
    "multi_gpu": _switch,
    "dont_load_ckpt_model": _switch,
    "cudnn_benchmark": _switch,
    "multi_label": _switch,
    "pixdim": _spacing,
    "roi_size": _sizes,
    "patch_size": _sizes,
}

#: Variables clara reads although a config need not mention them.
READ_BY_CLARA = frozenset(
    {
        *KNOWN,
        *layout.PATH_VARIABLES,
        "MMAR_ROOT",
        "PROCESSING_TASK",
        "CLARA_FAMILY",
        "determinism",
        "class_names",
        "max_interactions",
    }
)


def check_overrides(
    overrides: Mapping[str, Any],
    defined: Mapping[str, Any],
    configs: Iterable[Any],
) -> dict[str, Any]:
    """The `--set` values, checked; numbers given for a text variable become text.

    Args:
        overrides: `--set` values as typed by `parse_set_value`, legacy names already mapped.
        defined: the variables they replace (environment.json over the config's top level).
        configs: the parsed configs of the run, searched for `{KEY}` references.

    Raises:
        OverrideError: an unknown key (with a did-you-mean), or a value of the wrong type,
            length or range, naming the key, the value and what it expects.
    """
    read = _referenced(configs) | set(defined) | READ_BY_CLARA
    checked: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in read:
            close = difflib.get_close_matches(key, sorted(read), n=3, cutoff=0.7)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise OverrideError(
                f"--set {key}=...: no config, environment.json or clara reads {key!r}{hint}\n"
                '  check the spelling; a config reads a variable as "{' + key + '}"'
            )
        checked[key] = _checked_value(key, value, defined.get(key))
    return checked


def _checked_value(key: str, value: Any, old: Any) -> Any:
    rule = KNOWN.get(key)
    if rule is not None and not _is_template(old):
        value = _integral(value)
        expected = rule(value)
        if expected:
            raise _wrong(key, value, expected)
        if isinstance(old, list) and isinstance(value, list) and len(old) != len(value):
            raise _wrong(key, value, f"{len(old)} values, like {_shown(old)}")
        return _as_bool(value) if rule is _switch else value
    return _like(key, value, old)


def _as_bool(value: Any) -> Any:
    """A switch's value as a bool ("true"/"false" text included)."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value


def _like(key: str, value: Any, old: Any) -> Any:
    """`value` checked against the type of `old`, the value it replaces."""
    if old is None or _is_template(old) or value is None and isinstance(old, str):
        return value
    if isinstance(old, bool):
        if _switch(value):
            raise _wrong(key, value, "true or false")
        return _as_bool(value)
    if isinstance(value, str) and value.isdigit() and isinstance(old, (int, float, list)):
        # Digits JSON does not read as a number: an axis code ("012" for axes [0,1,2], as the
        # slice families accept for `axis` and `fusion_axes`).
        return value
    if isinstance(old, int):
        whole = _integral(value)
        if isinstance(whole, bool) or not isinstance(whole, int):
            raise _wrong(key, value, f"a whole number, like {old}")
        return whole
    if isinstance(old, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _wrong(key, value, f"a number, like {old}")
        return value
    if isinstance(old, str):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return json.dumps(value)  # a name or path that looks like a number
        if isinstance(value, (list, dict)):
            raise _wrong(key, value, f"text, like {old!r}")
        return value
    if isinstance(old, list):
        if not isinstance(value, list):
            raise _wrong(key, value, f"a list, like {_shown(old)}")
        numbers = [v for v in old if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if old and len(numbers) == len(old):
            if len(value) != len(old):
                raise _wrong(key, value, f"{len(old)} values, like {_shown(old)}")
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                raise _wrong(key, value, f"numbers, like {_shown(old)}")
        return value
    if isinstance(old, dict) and not isinstance(value, dict):
        raise _wrong(key, value, f"a JSON object, like {_shown(old)}")
    return value


def _referenced(configs: Iterable[Any]) -> set[str]:
    return {m.group(1) for config in configs for m in _REFERENCE.finditer(json.dumps(config))}


def _is_template(old: Any) -> bool:
    return isinstance(old, str) and bool(_REFERENCE.search(old))


def _integral(value: Any) -> Any:
    # JSON reads 1e3 as 1000.0: a whole float is taken as the whole number it spells.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _shown(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _wrong(key: str, value: Any, expected: str) -> OverrideError:
    given = value if isinstance(value, str) else _shown(value)
    return OverrideError(f"--set {key}={given}: expected {expected}")
