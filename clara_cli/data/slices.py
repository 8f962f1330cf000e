"""2D slices from 3D image/label pairs, for slice-based models (SegTHOR, cervical spine)."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clara_cli.errors import DataError
from clara_cli.io.datalist import write_datalist

if TYPE_CHECKING:
    import SimpleITK as sitk


@dataclass
class SliceReport:
    """What `extract_slices` wrote."""

    datalist: Path
    cases: int
    slices: int
    empty_dropped: int


def extract_slice(image: sitk.Image, axis: int, index: int) -> sitk.Image:
    """The 2D slice `index` of a 3D image along `axis` (SimpleITK/NIfTI index order: 2 = z)."""
    import SimpleITK as sitk

    size = list(image.GetSize())
    if not 0 <= axis < len(size):
        raise DataError(f"axis must be 0, 1 or 2, not {axis}")
    size[axis] = 0
    start = [0] * len(size)
    start[axis] = index
    return sitk.Extract(image, size, start, sitk.ExtractImageFilter.DIRECTIONCOLLAPSETOGUESS)


def load_pair(root: Path, pair: dict[str, Any]) -> tuple[sitk.Image, sitk.Image]:
    """Read an image and its label map, putting the label on the image's grid if they differ."""
    import numpy as np

    from clara_cli.data.dataconvert import as_integer_label
    from clara_cli.io.image import read_image
    from clara_cli.io.resample import resample_like

    image = read_image(root / pair["image"])
    label = as_integer_label(read_image(root / pair["label"]))
    same = image.GetSize() == label.GetSize() and all(
        np.allclose(getattr(image, g)(), getattr(label, g)(), atol=1e-3)
        for g in ("GetSpacing", "GetOrigin", "GetDirection")
    )
    if not same:
        label = resample_like(label, image, is_label=True)
    return image, label


def extract_slices(
    root: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    axis: int = 2,
    empty_fraction: float = 1.0,
    train_fraction: float = 0.8,
    seed: int = 0,
    dataset_json: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> SliceReport:
    """Write every slice of every image/label pair of an MSD folder as 2D NIfTI, with a datalist.

    Output: `images/<case>_<k>.nii.gz`, `labels/<case>_<k>.nii.gz` and `dataset_0.json`
    (paths relative to `output_dir`; training/validation split by case, not by slice).

    Args:
        root: MSD-layout dataset root.
        output_dir: an empty or new folder.
        axis: index axis to slice along (0 = x, 1 = y, 2 = z; the NIfTI/MONAI order).
        empty_fraction: share of the slices without any label to keep (chosen with `seed`).
        train_fraction: share of the cases in "training".
        seed: seed of the empty-slice choice and the split.
        dataset_json: MSD description, default `root/dataset.json` when present.
        overwrite: write into a non-empty output folder.

    Raises:
        DataError: bad axis or fraction, no pairs, or a non-empty output without `overwrite`.
    """
    import numpy as np

    from clara_cli.data.prepare import ensure_output_dir, find_msd_cases, split_by_case
    from clara_cli.io.image import strip_image_suffix, write_image

    if axis not in (0, 1, 2):
        raise DataError(f"axis must be 0, 1 or 2, not {axis}")
    if not 0.0 <= empty_fraction <= 1.0:
        raise DataError(
            f"the fraction of empty slices to keep must be in [0, 1], not {empty_fraction}"
        )
    root, output_dir = Path(root), Path(output_dir)
    cases = find_msd_cases(root, dataset_json)
    ensure_output_dir(output_dir, root, overwrite)
    entries: list[dict[str, Any]] = []
    dropped = 0
    for pair in cases.pairs:
        case = strip_image_suffix(pair["image"])
        image, label = load_pair(root, pair)
        labels = np.moveaxis(_as_xyz(label), axis, 0)
        present = [bool(labels[k].any()) for k in range(labels.shape[0])]
        empty = [k for k, has in enumerate(present) if not has]
        rng = random.Random(f"{seed}:{case}")
        keep_empty = set(rng.sample(empty, round(empty_fraction * len(empty))))
        dropped += len(empty) - len(keep_empty)
        width = max(3, len(str(labels.shape[0])))
        for k, has in enumerate(present):
            if not has and k not in keep_empty:
                continue
            name = f"{case}_{k:0{width}d}.nii.gz"
            write_image(extract_slice(image, axis, k), output_dir / "images" / name)
            write_image(extract_slice(label, axis, k), output_dir / "labels" / name)
            entries.append(
                {"image": f"images/{name}", "label": f"labels/{name}", "case": case, "slice": k}
            )
    training, validation = split_by_case(entries, train_fraction, seed)
    datalist = write_datalist(
        output_dir / "dataset_0.json", {"training": training, "validation": validation}
    )
    return SliceReport(datalist, len(cases.pairs), len(entries), dropped)


def _as_xyz(image: sitk.Image) -> Any:
    """The voxel array in index order (x, y, z), unlike SimpleITK's (z, y, x) numpy view."""
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(image).transpose(2, 1, 0)
