"""Datalists from a Medical Segmentation Decathlon (MSD) layout folder.

A dataset root holds `imagesTr/` and `labelsTr/` (and optionally `imagesTs/`), with or without
an MSD `dataset.json`. This module finds the image/label pairs, reports what does not match, and
writes Clara datalists (`training` / `validation`, or one per fold, plus `test`), with paths
relative to the root (Clara's DATA_ROOT).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clara_cli.errors import DataError
from clara_cli.io.datalist import fold_items, split_items, write_datalist
from clara_cli.io.image import image_suffix, strip_image_suffix
from clara_cli.io.native_stderr import metaio_to_log

Item = dict[str, Any]


@dataclass
class MsdCases:
    """What a dataset root holds.

    Attributes:
        pairs: {"image": ..., "label": ...} with paths relative to the root, sorted by image.
        test: test images (relative paths).
        unmatched_images: training images without a label.
        unmatched_labels: labels without an image.
        missing: paths listed in dataset.json that do not exist.
    """

    pairs: list[Item] = field(default_factory=list)
    test: list[str] = field(default_factory=list)
    unmatched_images: list[str] = field(default_factory=list)
    unmatched_labels: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def find_msd_cases(
    root: str | os.PathLike[str], dataset_json: str | os.PathLike[str] | None = None
) -> MsdCases:
    """Find the image/label pairs of an MSD-layout folder.

    Uses `dataset_json` (default: `root/dataset.json` when it exists) for the training and test
    lists (test: the files of `imagesTs/` when it has no "test" key); otherwise matches
    `imagesTr/` and `labelsTr/` files by name (an nnU-Net channel suffix such as `_0000` on the
    image is ignored).

    Raises:
        DataError: the root has neither dataset.json nor imagesTr/labelsTr, or no pair at all.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset root {str(root)!r} does not exist or is not a folder")
    json_path = Path(dataset_json) if dataset_json else root / "dataset.json"
    if dataset_json and not json_path.is_file():
        raise DataError(f"dataset JSON not found: {str(json_path)!r}")
    cases = _cases_from_json(root, json_path) if json_path.is_file() else _cases_from_folders(root)
    if not cases.pairs:
        raise DataError(
            f"no image/label pairs in {str(root)!r}\n"
            "  expected an MSD layout: imagesTr/ and labelsTr/ with matching names, or dataset.json"
        )
    return cases


def _cases_from_json(root: Path, json_path: Path) -> MsdCases:
    try:
        description = json.loads(json_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{json_path}:{err.lineno}:{err.colno}: invalid JSON: {err.msg}") from None
    training = description.get("training")
    if not isinstance(training, list):
        raise DataError(f"{json_path}: no 'training' list (an MSD dataset.json has one)")
    cases = MsdCases()
    for index, item in enumerate(training):
        if not isinstance(item, dict) or "image" not in item or "label" not in item:
            raise DataError(f"{json_path}: training[{index}] needs 'image' and 'label' keys")
        image, label = _relative(item["image"]), _relative(item["label"])
        absent = [p for p in (image, label) if not (root / p).exists()]
        if absent:
            cases.missing.extend(absent)
        else:
            cases.pairs.append({"image": image, "label": label})
    if "test" not in description:  # not every dataset.json lists them: take imagesTs/
        cases.test = _images_in(root, "imagesTs")
    for index, entry in enumerate(description.get("test") or []):
        path = entry.get("image") if isinstance(entry, dict) else entry
        if not isinstance(path, str):
            raise DataError(f"{json_path}: test[{index}] must be a path or {{'image': path}}")
        path = _relative(path)
        (cases.test if (root / path).exists() else cases.missing).append(path)
    listed = {pair["label"] for pair in cases.pairs}
    cases.unmatched_labels = [p for p in _images_in(root, "labelsTr") if p not in listed]
    listed_images = {pair["image"] for pair in cases.pairs}
    cases.unmatched_images = [p for p in _images_in(root, "imagesTr") if p not in listed_images]
    cases.pairs.sort(key=lambda pair: pair["image"])
    return cases


def _cases_from_folders(root: Path) -> MsdCases:
    if not (root / "imagesTr").is_dir() or not (root / "labelsTr").is_dir():
        raise DataError(
            f"{str(root)!r} has no dataset.json and no imagesTr/ + labelsTr/ folders\n"
            "  expected an MSD layout (e.g. Task09_Spleen)"
        )
    labels = {strip_image_suffix(p): p for p in _images_in(root, "labelsTr")}
    cases = MsdCases()
    used = set()
    for image in _images_in(root, "imagesTr"):
        stem = strip_image_suffix(image)
        key = stem if stem in labels else _without_channel(stem)
        if key in labels and key not in used:
            used.add(key)
            cases.pairs.append({"image": image, "label": labels[key]})
        else:
            cases.unmatched_images.append(image)
    cases.unmatched_labels = [path for key, path in labels.items() if key not in used]
    cases.test = _images_in(root, "imagesTs")
    return cases


def _without_channel(stem: str) -> str:
    head, sep, tail = stem.rpartition("_")
    return head if sep and len(tail) == 4 and tail.isdigit() else stem


def _images_in(root: Path, folder: str) -> list[str]:
    if not (root / folder).is_dir():
        return []
    return sorted(
        f"{folder}/{p.name}"
        for p in (root / folder).iterdir()
        if p.is_file() and not p.name.startswith((".", "._")) and image_suffix(p) is not None
    )


def _relative(path: str) -> str:
    return path[2:] if path.startswith("./") else path


def geometry_mismatches(
    root: str | os.PathLike[str], pairs: list[Item], tolerance: float = 1e-3
) -> list[str]:
    """Describe every pair whose image and label differ in size, spacing, origin or direction.

    Only the file headers are read.
    """
    import numpy as np
    import SimpleITK as sitk

    problems = []
    for pair in pairs:
        headers = []
        for key in ("image", "label"):
            reader = sitk.ImageFileReader()
            reader.SetFileName(str(Path(root) / pair[key]))
            try:
                with metaio_to_log():
                    reader.ReadImageInformation()
            except RuntimeError:
                problems.append(f"{pair[key]}: unreadable header")
                break
            headers.append(reader)
        if len(headers) != 2:
            continue
        image, label = headers
        # A 4D image (channels or time as the 4th axis, e.g. BraTS in one file) goes with a
        # 3D label: compare the spatial axes they share.
        n = min(image.GetDimension(), label.GetDimension())
        differences = []
        sizes = [tuple(h.GetSize()[:n]) for h in (image, label)]
        if sizes[0] != sizes[1]:
            differences.append(f"size {sizes[0]} vs {sizes[1]}")
        for what in ("Spacing", "Origin", "Direction"):
            a, b = (_leading(np.asarray(getattr(h, f"Get{what}")()), h, n) for h in (image, label))
            if a.shape != b.shape or not np.allclose(a, b, atol=tolerance):
                differences.append(f"{what.lower()} {_rounded(a)} vs {_rounded(b)}")
        if differences:
            problems.append(f"{pair['image']} / {pair['label']}: " + "; ".join(differences))
    return problems


def _leading(values: Any, header: Any, n: int) -> Any:
    # Spacing/origin: the first n axes; direction (d x d, row-major): its leading n x n block.
    d = header.GetDimension()
    if values.size == d * d:
        return values.reshape(d, d)[:n, :n].ravel()
    return values[:n]


def _rounded(values: Any) -> tuple[float, ...]:
    # Plain floats (numpy 2 would print np.float64(...)), and no "-0.0".
    return tuple(round(float(v), 4) + 0.0 for v in values)


@dataclass
class PrepareReport:
    """Datalists written and the problems found on the way."""

    datalists: list[Path]
    cases: MsdCases
    geometry_problems: list[str]

    def warnings(self) -> list[str]:
        """One line per problem, for the user."""
        lines = []
        for title, paths in (
            ("image(s) without a label", self.cases.unmatched_images),
            ("label(s) without an image", self.cases.unmatched_labels),
            ("listed file(s) missing", self.cases.missing),
            ("pair(s) whose geometry disagrees", self.geometry_problems),
        ):
            if paths:
                lines.append(f"{len(paths)} {title}:")
                lines.extend(f"  {path}" for path in paths[:20])
                if len(paths) > 20:
                    lines.append(f"  ... and {len(paths) - 20} more")
        return lines


def prepare_datalist(
    root: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    train_fraction: float = 0.8,
    seed: int = 0,
    folds: int | None = None,
    dataset_json: str | os.PathLike[str] | None = None,
    check_geometry: bool = True,
    overwrite: bool = False,
) -> PrepareReport:
    """Write a datalist (or one per fold) for an MSD-layout folder.

    Args:
        root: the dataset root; datalist paths are relative to it.
        output: datalist path, or a folder to put `dataset_0.json` in; default
            `root/dataset_0.json`. With `folds`, fold k is written to `<stem>_fold<k>.json` next
            to it (default `root/dataset_fold<k>.json`). Paths inside stay relative to `root`.
        train_fraction: share of the cases in "training" (ignored with `folds`).
        seed: shuffling seed; the same cases and seed give the same split.
        folds: k for k-fold cross-validation: the validation lists partition the cases.
        dataset_json: the MSD description, default `root/dataset.json` when present.
        check_geometry: compare image and label headers of every pair.
        overwrite: replace existing datalist files.

    Returns:
        The datalists written and the problems found (unmatched files, geometry).

    Raises:
        DataError: no pairs, bad split parameters, or an existing datalist without `overwrite`.
    """
    root = Path(root)
    cases = find_msd_cases(root, dataset_json)
    if output is not None and Path(output).is_dir():
        output = Path(output) / ("dataset_0.json" if folds is None else "dataset.json")
    if folds is None:
        targets = [Path(output) if output else root / "dataset_0.json"]
        splits = [split_items(cases.pairs, train_fraction, seed)]
    else:
        base = Path(output) if output else root / "dataset.json"
        stem = base.name[: -len(".json")] if base.name.endswith(".json") else base.name
        targets = [base.with_name(f"{stem}_fold{k}.json") for k in range(folds)]
        splits = fold_items(cases.pairs, folds, seed)
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        raise DataError(
            f"datalist already exists: {', '.join(existing)}\n  use --force to replace it"
        )
    problems = geometry_mismatches(root, cases.pairs) if check_geometry else []
    for target, (training, validation) in zip(targets, splits, strict=True):
        datalist: dict[str, Any] = {"training": training, "validation": validation}
        if cases.test:
            datalist["test"] = [{"image": path} for path in cases.test]
        write_datalist(target, datalist)
    return PrepareReport(targets, cases, problems)


def split_by_case(
    entries: list[Item], train_fraction: float, seed: int
) -> tuple[list[Item], list[Item]]:
    """Split sample entries so that all samples of a case (entry["case"]) land on the same side.

    Slices or label regions of one patient in both lists would leak it into validation.
    """
    cases = sorted({entry["case"] for entry in entries})
    training_cases, _ = split_items([{"case": case} for case in cases], train_fraction, seed)
    in_training = {item["case"] for item in training_cases}
    training = [entry for entry in entries if entry["case"] in in_training]
    validation = [entry for entry in entries if entry["case"] not in in_training]
    return training, validation


def ensure_output_dir(output_dir: Path, root: Path, overwrite: bool) -> None:
    """Create `output_dir`; refuse one that is not empty (unless `overwrite`) or is the root."""
    if output_dir.resolve() == root.resolve():
        raise DataError(f"output folder {str(output_dir)!r} is the dataset root; choose another")
    if output_dir.is_dir() and any(output_dir.iterdir()) and not overwrite:
        raise DataError(
            f"output folder {str(output_dir)!r} is not empty\n"
            "  choose an empty folder, or replace its files with --force"
        )
    output_dir.mkdir(parents=True, exist_ok=True)
