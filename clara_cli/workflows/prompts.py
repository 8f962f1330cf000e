"""Typed point prompts (clicks) for the models whose inference takes them (DeepGrow).

`clara infer --fg X,Y,Z --bg X,Y,Z [--mm]` gives the clicks of one image; `--clicks FILE`
those of many (``{"case": {"fg": [[x, y, z], ...], "bg": [...]}}``, cases named like the
outputs: the image file name without its suffix). Coordinates are voxel indices of the input
image in ITK order (x, y, z; what ITK-SNAP shows), or with ``--mm`` physical LPS millimetres
(ITK's world coordinates; 3D Slicer shows RAS: negate x and y). A workflow that takes no
prompts refuses them; one that does maps them into its model's space (see
``clara_cli.io.points``).

Only the standard library is imported here: the CLI builds these before loading torch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clara_cli.errors import DataError

Point = tuple[float, ...]
#: Point spaces: voxel indices of the input file, or physical LPS millimetres.
SPACES = ("voxel", "mm")


@dataclass(frozen=True)
class PointPrompts:
    """The clicks on one image.

    Attributes:
        foreground: points inside the structure to segment.
        background: points outside it.
        space: "voxel" (indices x, y, z of the input file) or "mm" (LPS millimetres).
        source: where they came from, for messages ("--fg/--bg", "clicks.json: case_3").
    """

    foreground: tuple[Point, ...] = ()
    background: tuple[Point, ...] = ()
    space: str = "voxel"
    source: str = "--fg/--bg"

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise ValueError(f"point space must be one of {SPACES}, not {self.space!r}")

    def labelled(self) -> list[tuple[str, Point]]:
        """Every point with how the user wrote it (``--fg 10,20,3`` or ``--bg 1.5,2,3 mm``)."""
        unit = " mm" if self.space == "mm" else ""
        return [("--fg " + format_point(p) + unit, p) for p in self.foreground] + [
            ("--bg " + format_point(p) + unit, p) for p in self.background
        ]


@dataclass(frozen=True)
class PromptSet:
    """The prompts of one `clara infer` run: one set for a single input, or one per case.

    Attributes:
        single: the clicks given on the command line (for exactly one input image).
        by_case: case name -> clicks (from a clicks file).
        source: "--fg/--bg" or the clicks file, for messages.
    """

    single: PointPrompts | None = None
    by_case: Mapping[str, PointPrompts] = field(default_factory=dict)
    source: str = "--fg/--bg"

    def for_cases(self, names: list[str]) -> dict[str, PointPrompts]:
        """The clicks of each case.

        Raises:
            DataError: command-line clicks for several inputs, or a clicks file that names
                cases not among the inputs or leaves some out.
        """
        if self.single is not None:
            if len(names) != 1:
                raise DataError(
                    f"--fg/--bg give the clicks of one image, but the input holds {len(names)}\n"
                    "  pass one image with --input, or the clicks of each case with --clicks FILE"
                )
            return {names[0]: self.single}
        unknown = sorted(set(self.by_case) - set(names))
        missing = [name for name in names if name not in self.by_case]
        if unknown or missing:
            parts = []
            if unknown:
                parts.append(f"names case(s) not among the inputs: {', '.join(unknown)}")
            if missing:
                parts.append(f"has no clicks for: {', '.join(missing)}")
            raise DataError(
                f"{self.source} {'; '.join(parts)}\n"
                f"  cases are named like the outputs (image file name without its suffix): "
                f"{', '.join(names[:5])}{' ...' if len(names) > 5 else ''}"
            )
        return {name: self.by_case[name] for name in names}


def format_point(point: Point) -> str:
    """``10,20,3`` for integral values, ``1.5,-2,30.25`` otherwise."""
    return ",".join(f"{v:g}" for v in point)


def parse_point(text: str, where: str = "a point") -> Point:
    """Parse ``X,Y,Z`` (three finite numbers).

    Raises:
        DataError: not three comma-separated finite numbers.
    """
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise DataError(f"{where}: expected X,Y,Z (three numbers), not {text!r}")
    return values


def load_clicks(path: Path, space: str = "voxel") -> PromptSet:
    """Read a clicks file: ``{"case": {"fg": [[x, y, z], ...], "bg": [[x, y, z], ...]}}``.

    Raises:
        DataError: unreadable JSON, or an entry that is not lists of 3 numbers.
    """
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise DataError(f"cannot read the clicks file {str(path)!r}: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}:{err.colno}: invalid JSON: {err.msg}") from None
    example = '{"case_1": {"fg": [[120, 88, 31]], "bg": [[140, 90, 31]]}}'
    if not isinstance(document, dict) or not document:
        raise DataError(f"{path}: expected an object of cases, e.g. {example}")
    by_case = {}
    for case, entry in document.items():
        where = f"{path}: {case}"
        if not isinstance(entry, dict) or set(entry) - {"fg", "bg"}:
            raise DataError(f'{where}: expected {{"fg": [...], "bg": [...]}}, e.g. {example}')
        points = {key: _points(entry.get(key, []), f"{where}.{key}") for key in ("fg", "bg")}
        by_case[str(case)] = PointPrompts(points["fg"], points["bg"], space, where)
    return PromptSet(by_case=by_case, source=str(path))


def _points(value: Any, where: str) -> tuple[Point, ...]:
    if not isinstance(value, list):
        raise DataError(f"{where}: expected a list of [x, y, z] points, not {value!r}")
    points = []
    for index, item in enumerate(value):
        ok = isinstance(item, list) and len(item) == 3
        ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in item)
        if not ok or not all(math.isfinite(v) for v in item):
            raise DataError(f"{where}[{index}]: expected [x, y, z] (three numbers), not {item!r}")
        points.append(tuple(float(v) for v in item))
    return tuple(points)
