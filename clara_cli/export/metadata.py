"""The preprocessing an exported model expects, stored inside the exported file.

`clara export` writes one JSON document, :data:`METADATA_NAME`, into every export: a
TorchScript extra file (``torch.jit.save(_extra_files=...)``), a ``.pt2`` extra file
(``torch.export.save(extra_files=...)``) or an ONNX ``metadata_props`` entry. It says how
images must be prepared for the model (orientation, voxel spacing, intensity transforms,
sliding-window ROI and training patch size), what comes out (spatial dims, in/out channels,
class names), and where it came from (clara version, source config). `clara validate` and
`clara infer` read it back when they load an export and use it in place of the config's
values (see :func:`apply_to_section_spec`).

The values are found in the resolved (variables substituted) training config by transform
*name*, whatever the family: Orientation(d) ``axcodes``, Spacing(d) ``pixdim``, every
deterministic intensity transform (``ScaleIntensityRange(d)``, ``NormalizeIntensity(d)``, ...)
with its arguments, the validation inferer's ``roi_size``.
"""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

METADATA_NAME = "clara.json"
#: Bumped when a key changes meaning.
METADATA_VERSION = 1
#: Transform names (with or without the dictionary ``d``) whose arguments are the intensity
#: preprocessing; random ones (augmentation) are not part of it.
INTENSITY_PREFIXES = ("ScaleIntensity", "NormalizeIntensity", "ClipIntensity", "ThresholdIntensity")
#: Arguments that say which keys a transform applies to, not what it does.
_KEY_ARGS = frozenset({"keys", "allow_missing_keys", "meta_keys", "meta_key_postfix"})


def preprocessing_metadata(
    conf: Mapping[str, Any], variables: Mapping[str, Any], source: str
) -> dict[str, Any]:
    """The metadata of a model trained with ``conf`` (a substituted training config).

    Args:
        conf: the config with its variables substituted (a checkpoint's ``train_conf``).
        variables: the run's resolved variables (``patch_size``, ``class_names``, ...).
        source: the config file the values come from, recorded as ``source_config``.

    Returns:
        A JSON-serialisable dict; keys whose value the config does not give are omitted.

    Example:
        >>> meta = preprocessing_metadata(session.conf, session.variables, "config_train.json")
        >>> meta["pixdim"], meta["orientation"]
        ([1.0, 1.0, 1.0], 'RAS')
    """
    from clara_cli import __version__

    meta: dict[str, Any] = {
        "clara_export_metadata": METADATA_VERSION,
        "clara_version": __version__,
        "source_config": source,
    }
    transforms = _pre_transforms(conf)
    for item in transforms:
        name, args = _name(item), _args(item)
        if name in ("Orientation", "Orientationd") and "axcodes" in args:
            meta["orientation"] = args["axcodes"]
        elif name in ("Spacing", "Spacingd") and "pixdim" in args:
            meta["pixdim"] = _plain(args["pixdim"])
        elif name.startswith(INTENSITY_PREFIXES):
            clean = {k: _plain(v) for k, v in args.items() if k not in _KEY_ARGS}
            meta.setdefault("intensity", []).append({"name": name, "args": clean})
    roi = _inferer_roi(conf)
    if roi is not None:
        meta["roi_size"] = roi
    patch = variables.get("patch_size")
    if isinstance(patch, list) and _int_list(patch):
        meta["patch_size"] = list(patch)
    network = (conf.get("train") or {}).get("model")
    if isinstance(network, dict):
        args = _args(network)
        meta["network"] = _name(network)
        for key, alias in (("spatial_dims", "dimensions"), ("in_channels", None)):
            value = args.get(key, args.get(alias) if alias else None)
            if isinstance(value, int):
                meta[key] = value
        out = args.get("out_channels", args.get("classes", args.get("n_classes")))
        if isinstance(out, int):
            meta["out_channels"] = out
    names = variables.get("class_names")
    if isinstance(names, list) and names:
        meta["class_names"] = [str(n) for n in names]
    return json.loads(json.dumps(meta, default=str))


def encode(meta: Mapping[str, Any]) -> str:
    """The metadata as the JSON text stored in the export."""
    return json.dumps(dict(meta), indent=1, sort_keys=True)


def read_metadata(path: str | Path) -> dict[str, Any] | None:
    """The metadata stored in an exported model, or None when it has none (older exports).

    TorchScript and ``.pt2`` files are zip archives: the extra file is read without loading
    the model. ONNX files are read with ``onnx`` (external weights not loaded).
    """
    path = Path(path)
    text: str | None = None
    if path.suffix == ".onnx":
        try:
            import onnx
        except ImportError:  # onnxruntime alone runs the model; without onnx, no metadata
            return None
        model = onnx.load(str(path), load_external_data=False)
        text = next((p.value for p in model.metadata_props if p.key == METADATA_NAME), None)
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            member = next(
                (n for n in archive.namelist() if n.endswith(f"/extra/{METADATA_NAME}")), None
            )
            text = archive.read(member).decode("utf-8") if member else None
    if not text:
        return None
    try:
        meta = json.loads(text)
    except json.JSONDecodeError:
        logger.warning("%s: its %s is not JSON; ignored", path, METADATA_NAME)
        return None
    return meta if isinstance(meta, dict) else None


def describe(meta: Mapping[str, Any]) -> str:
    """One line: ``orientation RAS, pixdim [1.0, 1.0, 1.0], ScaleIntensityRanged(a_min=-57,
    ...), roi_size [160, 160, 160], classes background, spleen``."""
    parts = []
    for key in ("orientation", "pixdim", "roi_size", "patch_size", "out_channels"):
        if key in meta:
            parts.append(f"{key} {meta[key]}")
    for item in meta.get("intensity", []):
        args = ", ".join(f"{k}={v}" for k, v in item.get("args", {}).items())
        parts.append(f"{item.get('name')}({args})")
    if "class_names" in meta:
        parts.append("classes " + ", ".join(meta["class_names"]))
    return ", ".join(parts) or "no preprocessing recorded"


def apply_to_section_spec(
    spec: dict[str, Any], resolved: Mapping[str, Any], meta: Mapping[str, Any]
) -> list[str]:
    """Put the export's preprocessing into a validation/inference config section, in place.

    Each Orientation(d)/Spacing(d)/intensity transform of ``spec["pre_transforms"]`` and the
    inferer's ``roi_size`` take the export's value where it differs from the config's
    (compared with ``resolved``, the same section with its variables substituted); the
    config's other arguments stay. Transforms the config does not have are not added (the
    config's pipeline decides what runs).

    Returns:
        One message per value changed (``Spacingd pixdim [2, 2, 2] -> [1.0, 1.0, 1.0]``).
    """
    changes: list[str] = []
    intensity = {item["name"]: item.get("args", {}) for item in meta.get("intensity", [])}
    raw_list = spec.get("pre_transforms") or []
    done_list = resolved.get("pre_transforms") or []
    for item, done in zip(raw_list, done_list, strict=False):  # same items, substituted
        name = _name(item)
        if not name or not isinstance(item.get("args"), dict):
            continue
        wanted: dict[str, Any] = {}
        if name in ("Orientation", "Orientationd") and "orientation" in meta:
            wanted = {"axcodes": meta["orientation"]}
        elif name in ("Spacing", "Spacingd") and "pixdim" in meta:
            wanted = {"pixdim": meta["pixdim"]}
        elif name in intensity:
            wanted = dict(intensity[name])
        current = _args(done)
        for key, value in wanted.items():
            if _plain(current.get(key)) != value:
                changes.append(f"{name} {key} {current.get(key)!r} -> {value!r}")
                item["args"][key] = value
    inferer, done_inferer = spec.get("inferer"), _args(resolved.get("inferer"))
    if "roi_size" in meta and isinstance(inferer, dict) and isinstance(inferer.get("args"), dict):
        if "roi_size" in done_inferer and _plain(done_inferer["roi_size"]) != meta["roi_size"]:
            changes.append(f"inferer roi_size {done_inferer['roi_size']!r} -> {meta['roi_size']}")
            inferer["args"]["roi_size"] = meta["roi_size"]
    return changes


def _pre_transforms(conf: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The deterministic preprocessing: validate's pre_transforms (refs looked up in
    train's by name), else train's."""
    train = [t for t in (conf.get("train") or {}).get("pre_transforms") or [] if _name(t)]
    by_name = {_name(t): t for t in train}
    validate = (conf.get("validate") or {}).get("pre_transforms")
    if not isinstance(validate, list):
        return train
    out = []
    for item in validate:
        if isinstance(item, dict) and "ref" in item:
            item = by_name.get(str(item["ref"]).split("#")[0], {})
        if _name(item):
            out.append(item)
    return out


def _inferer_roi(conf: Mapping[str, Any]) -> list[int] | None:
    for section in ("validate", "train"):
        inferer = (conf.get(section) or {}).get("inferer")
        roi = _args(inferer).get("roi_size") if isinstance(inferer, dict) else None
        if isinstance(roi, list) and _int_list(roi):
            return list(roi)
    return None


def _name(item: Any) -> str:
    if not isinstance(item, dict):
        return ""
    name = item.get("name") or str(item.get("path", "")).rsplit(".", 1)[-1]
    return str(name).split("#")[0]


def _args(item: Any) -> dict[str, Any]:
    args = item.get("args") if isinstance(item, dict) else None
    return args if isinstance(args, dict) else {}


def _int_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, int) for v in value)


def _plain(value: Any) -> Any:
    """Numbers stay numbers; a numeric string from a substituted "{var}" becomes one."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
