"""`manifest.csv` of `clara infer`: one row per case (input, output, seconds, status, volumes),
and which cases `--continue` may skip.

The manifest is rewritten atomically after every case, so a killed run leaves a manifest of
the cases it finished. With several processes each rank writes its own partial manifest
(`.manifest-rank<R>.csv`, no two processes write one file) and rank 0 merges them into
`manifest.csv` at the end. `--continue` skips a case only when its row says ok, its output
is where the row says, the file is complete (not truncated) and it has the input's grid.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clara_cli.engine.inference import PROB_SUFFIX, SEG_SUFFIX, CaseResult
from clara_cli.errors import DataError
from clara_cli.io.atomic import atomic_write_text

log = logging.getLogger("clara")

MANIFEST = "manifest.csv"
BASE_COLUMNS = ("case", "input", "output", "seconds", "status", "error")
#: The volume column of a config without class names (or of multi-label regions painted
#: into one label map): every non-zero voxel.
FOREGROUND = "foreground"


def volume_columns(class_names: Sequence[str]) -> list[str]:
    """`volume_ml_<class>` per label value 1..K, or `volume_ml_foreground`."""
    return [f"volume_ml_{name}" for name in (class_names or [FOREGROUND])]


class InferManifest:
    """The manifest of one rank's share of an inference run.

    Args:
        output_dir: where the outputs and the manifest go.
        class_names: names of label values 1..K; empty: one foreground volume.
        rank, world_size: this process's place in the job.
    """

    def __init__(
        self, output_dir: Path, class_names: Sequence[str], rank: int = 0, world_size: int = 1
    ) -> None:
        self.output_dir = output_dir
        self.class_names = list(class_names)
        self.columns = [*BASE_COLUMNS, *volume_columns(self.class_names)]
        self.path = (
            output_dir / MANIFEST if world_size == 1 else output_dir / f".manifest-rank{rank}.csv"
        )
        self.rows: dict[str, dict[str, str]] = {}

    def record(self, result: CaseResult) -> None:
        """Add (or replace) the row of a finished case and rewrite this rank's manifest."""
        self.rows[result.name] = self.row_of(result)
        self._write(self.path, list(self.rows.values()))

    def keep(self, row: dict[str, str]) -> None:
        """Carry a skipped case's earlier row into this run's manifest."""
        self.rows[row["case"]] = {column: row.get(column, "") for column in self.columns}

    def row_of(self, result: CaseResult) -> dict[str, str]:
        row = {
            "case": result.name,
            "input": result.image,
            "output": str(Path(result.segmentation).resolve()) if result.segmentation else "",
            "seconds": f"{result.seconds:.3f}",
            "status": "failed" if result.error is not None else "ok",
            "error": result.error or "",
        }
        volumes: dict[str, float] = {}
        if result.error is None and result.segmentation is not None:
            try:
                volumes = segmentation_volumes(result.segmentation, self.class_names)
            except DataError as err:
                row.update(status="failed", error=f"output unreadable: {err}")
        for column, name in zip(
            volume_columns(self.class_names), self.class_names or [FOREGROUND], strict=True
        ):
            row[column] = f"{volumes[name]:.3f}" if name in volumes else ""
        return row

    def merge(self, partial_rows: Sequence[dict[str, str]], world_size: int) -> Path:
        """Rank 0: write manifest.csv from every rank's rows, remove the partial manifests."""
        path = self.output_dir / MANIFEST
        self._write(path, list(partial_rows))
        if world_size > 1:
            for rank in range(world_size):
                (self.output_dir / f".manifest-rank{rank}.csv").unlink(missing_ok=True)
        return path

    def _write(self, path: Path, rows: list[dict[str, str]]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, self.columns, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(path, buffer.getvalue())


def segmentation_volumes(path: Path, class_names: Sequence[str]) -> dict[str, float]:
    """Volume (mL) of each label value 1..K of a written label map, on its own grid (the
    input's), or of all non-zero voxels when `class_names` is empty."""
    import numpy as np
    import SimpleITK as sitk

    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as err:
        raise DataError(str(err).strip().splitlines()[-1]) from None
    array = sitk.GetArrayViewFromImage(image)
    voxel_ml = float(np.prod(image.GetSpacing())) / 1000.0
    if not class_names:
        return {FOREGROUND: float(np.count_nonzero(array)) * voxel_ml}
    return {
        name: float(np.count_nonzero(array == k + 1)) * voxel_ml
        for k, name in enumerate(class_names)
    }


def read_earlier_rows(output_dir: Path) -> dict[str, dict[str, str]]:
    """The rows of an earlier run's manifest (and of partial manifests a killed multi-process
    run left), by case; later files win."""
    rows: dict[str, dict[str, str]] = {}
    paths = [output_dir / MANIFEST, *sorted(output_dir.glob(".manifest-rank*.csv"))]
    for path in paths:
        if not path.is_file():
            continue
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                if row.get("case"):
                    rows[row["case"]] = row
    return rows


def finished_output(
    row: dict[str, str] | None, case: Any, output_dir: Path, probabilities: bool
) -> str | None:
    """Why the case must run again, or None when `--continue` may skip it.

    A case is done when its row says ok, the output named there is this run's
    `<case>_seg.nii.gz`, that file is complete and has the input's grid (and, with
    --probabilities, `<case>_prob.nii.gz` exists too).
    """
    from clara_cli.io.nifti_integrity import require_complete_nifti
    from clara_cli.io.prediction import read_grid

    expected = output_dir / f"{case.name}{SEG_SUFFIX}"
    if row is None:
        return "not in the manifest"
    if row.get("status") != "ok":
        return f"its manifest row says {row.get('status') or 'nothing'}"
    if not row.get("output") or Path(row["output"]).resolve() != expected.resolve():
        return f"its manifest row names another output ({row.get('output') or 'none'})"
    if not expected.is_file():
        return f"{expected.name} is missing"
    if probabilities and not (output_dir / f"{case.name}{PROB_SUFFIX}").is_file():
        return f"{case.name}{PROB_SUFFIX} is missing"
    try:
        require_complete_nifti(expected)
        written, source = read_grid(expected), read_grid(case.reference)
    except DataError as err:
        return f"{expected.name} or its input cannot be read ({err})"
    if not _same_grid(written, source):
        return f"{expected.name} is not on the grid of {case.reference}"
    return None


def _same_grid(a: Any, b: Any) -> bool:
    import numpy as np

    # NIfTI keeps spacing and origin as float32: compare with a tolerance.
    return a.size == b.size and all(
        np.allclose(getattr(a, key), getattr(b, key), rtol=1e-5, atol=1e-4)
        for key in ("spacing", "origin", "direction")
    )
