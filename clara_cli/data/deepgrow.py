"""DeepGrow dataset preparation (Clara 4 `deepgrow.prepare_dataset`), written on SimpleITK.

Each label value of each case becomes its own binary sample: in 3D one volume per (case, label
value); in 2D one slice per (case, slice, label value) wherever that value is present. Images are
resampled to `pixdim` first (linear; labels nearest neighbour onto the image's new grid). A
multi-organ label map (BTCV: 13 organs) thus gives one sample per organ and case, named after
the organ when the dataset's `dataset.json` lists its "labels".

Differences from MONAI's `create_dataset`: samples are NIfTI files that keep their geometry
(not .npy arrays), the arrays stay in the stored orientation (no RAS reorientation), 2D slices
are taken along the index z axis, and the training/validation split is by case, so slices of
one patient never appear on both sides.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clara_cli.errors import DataError
from clara_cli.io.datalist import write_datalist


@dataclass
class DeepgrowReport:
    """What `prepare_deepgrow` wrote."""

    datalist: Path
    cases: int
    samples: int


def parse_pixdim(pixdim: Sequence[float] | None, dimensions: int) -> tuple[float | None, ...]:
    """Target spacing per index axis; None keeps an axis as it is (z of 2D samples by default).

    3D: one value (isotropic) or three; default 1 mm. 2D: one or two in-plane values (z kept),
    or three; default 1 x 1 mm in-plane.

    Raises:
        DataError: wrong dimensions, count, or non-positive values.
    """
    if dimensions not in (2, 3):
        raise DataError(f"DeepGrow dimensions must be 2 or 3, not {dimensions}")
    values = [float(v) for v in (pixdim or [1.0])]
    if not all(v > 0 for v in values):
        raise DataError(f"pixdim values must be positive mm, not {values}")
    if len(values) == 1:
        values = values * 3 if dimensions == 3 else values * 2
    if len(values) == 2 and dimensions == 2:
        return (values[0], values[1], None)
    if len(values) != 3:
        allowed = "1 or 3" if dimensions == 3 else "1, 2 or 3"
        raise DataError(f"pixdim needs {allowed} values for {dimensions}D, not {len(values)}")
    return tuple(values)


def prepare_deepgrow(
    root: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    dimensions: int = 3,
    pixdim: Sequence[float] | None = None,
    limit: int = 0,
    train_fraction: float = 0.9,
    seed: int = 0,
    relative_path: bool = False,
    dataset_json: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> DeepgrowReport:
    """Write DeepGrow samples and their datalist (`output_dir/dataset.json`).

    Args:
        root: MSD-layout dataset root (image/label pairs from dataset.json or imagesTr/labelsTr).
        output_dir: an empty or new folder for `images/`, `labels/` and `dataset.json`.
        dimensions: 3 (volumes) or 2 (slices).
        pixdim: target spacing, see `parse_pixdim`.
        limit: use only the first `limit` cases (0: all).
        train_fraction: share of the cases in "training".
        seed: split seed.
        relative_path: datalist paths relative to `output_dir` (default: absolute, as Clara).
        dataset_json: MSD description, default `root/dataset.json` when present.
        overwrite: write into a non-empty output folder.

    Returns:
        The datalist path and counts. Entries hold "image", "label", "region" (the original
        label value), "organ" (its name from dataset.json "labels", else "label_<value>"),
        "case" and, in 2D, "slice".
    """
    import numpy as np
    import SimpleITK as sitk

    from clara_cli.data.prepare import ensure_output_dir, find_msd_cases, split_by_case
    from clara_cli.data.slices import extract_slice, load_pair
    from clara_cli.io.image import strip_image_suffix, write_image
    from clara_cli.io.resample import resample_like, resample_to_spacing

    spacing = parse_pixdim(pixdim, dimensions)
    if limit < 0:
        raise DataError(f"--limit must be 0 (all cases) or positive, not {limit}")
    root, output_dir = Path(root), Path(output_dir)
    pairs = find_msd_cases(root, dataset_json).pairs
    names = label_names(Path(dataset_json) if dataset_json else root / "dataset.json")
    pairs = pairs[:limit] if limit else pairs
    ensure_output_dir(output_dir, root, overwrite)
    base = Path(".") if relative_path else output_dir.resolve()
    entries: list[dict[str, Any]] = []
    for pair in pairs:
        case = strip_image_suffix(pair["image"])
        image, label = load_pair(root, pair)
        target = tuple(s if s is not None else image.GetSpacing()[i] for i, s in enumerate(spacing))
        image = resample_to_spacing(image, target)
        label = resample_like(label, image, is_label=True)
        labels = sitk.GetArrayFromImage(label)  # (z, y, x)
        regions = [int(v) for v in np.unique(labels) if v != 0]
        if dimensions == 3:
            image_name = f"images/{case}.nii.gz"
            write_image(image, output_dir / image_name)
            for region in regions:
                label_name = f"labels/{case}_region{region}.nii.gz"
                write_image(_binary(labels == region, label), output_dir / label_name)
                entries.append(_entry(base, image_name, label_name, region, names, case))
            continue
        width = max(3, len(str(labels.shape[0])))
        for k in range(labels.shape[0]):
            present = [r for r in regions if (labels[k] == r).any()]
            if not present:
                continue
            image_name = f"images/{case}_{k:0{width}d}.nii.gz"
            write_image(extract_slice(image, 2, k), output_dir / image_name)
            label_slice = extract_slice(label, 2, k)
            slice_array = labels[k]
            for region in present:
                label_name = f"labels/{case}_{k:0{width}d}_region{region}.nii.gz"
                write_image(_binary(slice_array == region, label_slice), output_dir / label_name)
                entries.append(_entry(base, image_name, label_name, region, names, case, k))
    if not entries:
        raise DataError(f"no labelled voxels in the {len(pairs)} case(s) of {str(root)!r}")
    training, validation = split_by_case(entries, train_fraction, seed)
    datalist = write_datalist(
        output_dir / "dataset.json", {"training": training, "validation": validation}
    )
    return DeepgrowReport(datalist, len(pairs), len(entries))


def label_names(dataset_json: Path) -> dict[int, str]:
    """Label value -> name from an MSD dataset.json's "labels" (empty when it has none).

    Raises:
        DataError: "labels" is not an object of value -> name.
    """
    import json

    if not dataset_json.is_file():
        return {}
    labels = json.loads(dataset_json.read_text(encoding="utf-8")).get("labels")
    if labels is None:
        return {}
    try:
        return {int(value): str(name) for value, name in dict(labels).items()}
    except (TypeError, ValueError):
        raise DataError(
            f'{dataset_json}: "labels" must map label values to names, '
            f'like {{"0": "background", "1": "spleen"}}, not {labels!r}'
        ) from None


def _binary(mask: Any, like: Any) -> Any:
    import numpy as np
    import SimpleITK as sitk

    binary = sitk.GetImageFromArray(mask.astype(np.uint8))
    binary.CopyInformation(like)
    return binary


def _entry(
    base: Path,
    image: str,
    label: str,
    region: int,
    names: dict[int, str],
    case: str,
    slice_index: int | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "image": str(base / image),
        "label": str(base / label),
        "region": region,
        "organ": names.get(region, f"label_{region}"),
        "case": case,
    }
    if slice_index is not None:
        entry["slice"] = slice_index
    return entry
