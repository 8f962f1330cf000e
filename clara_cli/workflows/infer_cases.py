"""Which images `clara infer` runs on: one file, a folder of images, or a datalist.

Without `--input`, the inputs come from the inference config's `dataset` entry (its
`data_list_file_path`, `data_file_base_dir` and `data_list_key`), as Clara read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clara_cli.errors import ConfigError, DataError
from clara_cli.io.image import IMAGE_SUFFIXES, image_suffix, strip_image_suffix

_ACCEPTED = f"an image file ({', '.join(IMAGE_SUFFIXES)}), a folder of them, or a datalist (.json)"
_SHOWN = 5


@dataclass(frozen=True)
class InferenceCase:
    """One input of an inference run.

    Attributes:
        name: the case name outputs are named after (`spleen_12` -> `spleen_12_seg.nii.gz`).
        image: the image path, or several paths for a multi-channel input.
    """

    name: str
    image: str | tuple[str, ...]

    @property
    def reference(self) -> str:
        """The file whose grid (size, spacing, origin, direction) the outputs get."""
        return self.image if isinstance(self.image, str) else self.image[0]


def collect_cases(
    source: Path | None, dataset_spec: dict[str, Any] | None, data_root: str | None, where: str
) -> list[InferenceCase]:
    """The cases to run: from `source` (--input) when given, else from the config's dataset.

    Args:
        source: an image file, a folder of image files, or a datalist `.json`.
        dataset_spec: the config's substituted `dataset` entry (datalist location and key).
        data_root: DATA_ROOT, the default base folder of the config's datalist.
        where: the config file, for messages.

    Raises:
        DataError: the input does not exist, holds no images, or two inputs share a case name.
        ConfigError: no --input and no datalist in the config.
    """
    key = str((dataset_spec or {}).get("data_list_key") or "test")
    if source is None:
        if not dataset_spec or "data_list_file_path" not in dataset_spec:
            raise ConfigError(
                f"{where}: no 'dataset' with a data_list_file_path to read the inputs from\n"
                "  pass the images with --input FILE|DIR|DATALIST"
            )
        base = dataset_spec.get("data_file_base_dir") or data_root or ""
        items = _datalist_items(Path(dataset_spec["data_list_file_path"]), key, base)
    elif source.is_dir():
        items = _folder_items(source)
    elif not source.exists():
        raise DataError(f"input not found: {source}\n  --input takes {_ACCEPTED}")
    elif source.suffix.lower() == ".json":
        items = _datalist_items(source, key, "")
    elif image_suffix(source) is not None:
        items = [{"image": str(source.resolve())}]
    else:
        raise DataError(f"{source} is not a supported input; --input takes {_ACCEPTED}")
    cases = [_case(item) for item in items]
    _check_unique(cases)
    return cases


def output_overlap(source: Path | None, output_dir: Path) -> str | None:
    """Why `output_dir` must not be used with the input folder `source`, or None when fine.

    Outputs written into the input folder (or a folder inside it) become inputs of the next
    run, which then segments its own segmentations (`case_seg_seg.nii.gz`).
    """
    if source is None or not source.is_dir():
        return None
    folder, output = source.resolve(), output_dir.resolve()
    if output == folder or folder in output.parents:
        where = "is" if output == folder else "is inside"
        return (
            f"output folder {str(output_dir)!r} {where} the input folder {str(source)!r}: "
            "a later run would segment its own outputs\n  choose a separate output folder"
        )
    return None


def _datalist_items(path: Path, key: str, base: str | Path) -> list[dict[str, Any]]:
    from clara_cli.io.datalist import load_datalist

    try:
        return load_datalist(path, key, base)
    except DataError as err:
        if f"no {key!r} list" not in str(err):
            raise
        raise DataError(
            f"{err}\n  choose the subset with --set datalist_key=NAME, "
            "or pass images with --input FILE|DIR"
        ) from None


def _folder_items(folder: Path) -> list[dict[str, Any]]:
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and image_suffix(p)
    )
    if not files:
        raise DataError(f"no image files in {folder}; accepted: {', '.join(IMAGE_SUFFIXES)}")
    return [{"image": str(p.resolve())} for p in files]


def _case(item: dict[str, Any]) -> InferenceCase:
    image = item.get("image")
    if isinstance(image, list) and image and all(isinstance(p, str) for p in image):
        return InferenceCase(channels_case_name(image), tuple(image))
    if not isinstance(image, str):
        raise DataError(f"datalist item {item!r} has no 'image' path")
    return InferenceCase(strip_image_suffix(image), image)


def channels_case_name(paths: list[str]) -> str:
    """The case name of an image given as one file per channel: their common stem.

    `["brats_001_t1c.nii.gz", "brats_001_t1.nii.gz", ...]` -> `brats_001` (the common
    prefix, cut back to a separator); the first file's stem when they share none.
    """
    import os

    stems = [strip_image_suffix(p) for p in paths]
    common = os.path.commonprefix(stems)
    if common not in stems:
        cut = max(common.rfind(sep) for sep in "_-.")
        common = common[:cut] if cut > 0 else ""
    common = common.rstrip("_-. ")
    return common or stems[0]


def _check_unique(cases: list[InferenceCase]) -> None:
    seen: dict[str, str] = {}
    clashes: list[str] = []
    for case in cases:
        if case.name in seen:
            clashes.append(f"{seen[case.name]} and {case.reference} (both '{case.name}')")
        seen.setdefault(case.name, case.reference)
    if clashes:
        shown = "\n  ".join(clashes[:_SHOWN])
        raise DataError(
            f"{len(clashes)} input(s) would overwrite another's output:\n  {shown}\n"
            "  outputs are named after the image file; run such folders separately "
            "with different --output folders"
        )
