"""The early name check (`mmar.early_check`, `registry.early_lookup`): it refuses misspelt
component names of every kind without importing torch or MONAI, with the real lookup's
message, and refuses nothing the real lookup accepts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clara_cli.families import load_families
from clara_cli.mmar.early_check import first_refusal
from clara_cli.mmar.loader import load_mmar_config
from clara_cli.mmar.resolved_config import resolve_config
from clara_cli.registry import builtin
from clara_cli.registry.early_lookup import kind_names, refusal

REPO = Path(__file__).resolve().parents[2]
SPLEEN = REPO / "mmars" / "clara_pt_spleen_ct_segmentation"

# key path in the spleen training config -> (kind, misspelt name)
TYPOS = {
    "train.loss": "DiceLos",
    "train.model": "AHNett",
    "train.optimizer": "Adamm",
    "train.lr_scheduler": "StepLRR",
    "train.pre_transforms[0]": "LoadImaged_",
    "train.dataset": "CacheDatasett",
    "train.dataloader": "DataLoder",
    "train.inferer": "SimpleInfererr",
    "train.handlers[0]": "LrScheduleHandlr",
    "validate.key_metric": "MeanDicee",
    "validate.post_transforms[0]": "Activationsdd",
}


def _spleen_with(tmp_path: Path, key_path: str, name: str) -> Path:
    """A copy of the spleen archive's configs with the component at `key_path` renamed."""
    root = tmp_path / key_path.replace("[", "_").replace("]", "").replace(".", "_")
    (root / "config").mkdir(parents=True)
    for f in (SPLEEN / "config").glob("*.json"):
        (root / "config" / f.name).write_bytes(f.read_bytes())
    config_file = root / "config" / "config_train.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    section, _, key = key_path.partition(".")
    key, _, index = key.partition("[")
    spec = config[section][key]
    if index:
        spec = spec[int(index.rstrip("]"))]
    spec["name"] = name
    config_file.write_text(json.dumps(config), encoding="utf-8")
    return root


TRAIN_BUILDS = {"train": ("trainer", "model"), "validate": ("evaluator",)}

# Runs in a fresh interpreter: the early check of each archive, then which heavy modules
# were imported.
CHECK_SCRIPT = """
import json, sys
from clara_cli.families import load_families
from clara_cli.mmar.early_check import first_refusal
from clara_cli.mmar.loader import load_mmar_config
from clara_cli.workflows.base import get_workflow
load_families()
builds = get_workflow("train").builds
out = {}
for root in sys.argv[1:]:
    mmar = load_mmar_config(root, "config/config_train.json")
    out[root] = first_refusal(mmar, builds)
out["imported"] = sorted(m for m in ("torch", "monai", "ignite") if m in sys.modules)
print(json.dumps(out))
"""


def test_each_kind_of_typo_is_refused_without_importing_torch(tmp_path):
    roots = {k: _spleen_with(tmp_path, k, name) for k, name in TYPOS.items()}
    done = subprocess.run(
        [sys.executable, "-c", CHECK_SCRIPT, *map(str, roots.values())],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["imported"] == []
    for key_path, root in roots.items():
        message = out[str(root)]
        name = TYPOS[key_path]
        assert message is not None, key_path
        assert f"config_train.json: {key_path}.name: unknown " in message
        assert f"{name!r}" in message and "Did you mean" in message


@pytest.mark.slow
@pytest.mark.parametrize("key_path", sorted(TYPOS))
def test_message_is_the_real_lookups(tmp_path, key_path):
    root = _spleen_with(tmp_path, key_path, TYPOS[key_path])
    mmar = load_mmar_config(root, "config/config_train.json")
    early = first_refusal(mmar, TRAIN_BUILDS)
    real = [p.message for p in resolve_config(mmar).problems]
    assert early is not None and early in real


def test_valid_spellings_are_accepted():
    where = "c.json: train.x"
    for spec, kind in [
        ({"name": "diceloss"}, "loss"),  # case-insensitive, as the registry
        ({"name": "DiceLoss#my_loss"}, "loss"),  # Clara 3 alias
        ({"name": "AddChanneld"}, "transform"),  # removed from MONAI; a shim maps it
        ({"name": "UNet"}, "transform"),  # found in another kind's table
        ({"name": "monai.transforms.NoSuchThing"}, None),  # dotted: the import decides
        ({"path": "deepgrow.handler.DeepgrowStatsHandler"}, "handler"),  # legacy path
    ]:
        assert refusal(spec, kind, where) is None, spec


def test_a_path_whose_package_is_missing_is_refused():
    message = refusal({"path": "nosuchpkg_h18.losses.MyLoss"}, "loss", "c.json: train.loss")
    assert message is not None
    assert message.startswith(
        "c.json: train.loss.path: cannot import 'nosuchpkg_h18.losses' for "
        "'nosuchpkg_h18.losses.MyLoss': No module named 'nosuchpkg_h18'"
    )


def test_custom_code_of_the_archive_is_found(tmp_path):
    root = _spleen_with(tmp_path, "train.loss", "DiceLoss")
    (root / "custom" / "mylosses").mkdir(parents=True)
    (root / "custom" / "mylosses" / "__init__.py").write_text("class MyLoss: ...\n")
    config_file = root / "config" / "config_train.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["train"]["loss"] = {"path": "mylosses.MyLoss"}
    config_file.write_text(json.dumps(config), encoding="utf-8")
    assert first_refusal(load_mmar_config(root, "config/config_train.json"), TRAIN_BUILDS) is None
    config["train"]["loss"] = {"path": "notmylosses.MyLoss"}
    config_file.write_text(json.dumps(config), encoding="utf-8")
    assert "No module named 'notmylosses'" in str(
        first_refusal(load_mmar_config(root, "config/config_train.json"), TRAIN_BUILDS)
    )


def test_switched_off_and_unreferenced_components_are_not_checked(tmp_path):
    root = _spleen_with(tmp_path, "train.handlers[0]", "NoSuchHandler")
    config_file = root / "config" / "config_train.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["train"]["handlers"][0]["disabled"] = True
    config["train"]["unused"] = {"name": "NoSuchThing"}  # nothing builds it
    config_file.write_text(json.dumps(config), encoding="utf-8")
    mmar = load_mmar_config(root, "config/config_train.json")
    assert first_refusal(mmar, TRAIN_BUILDS) is None
    assert first_refusal(mmar, None) is None  # a workflow that declares nothing


def test_names_from_variables_are_substituted_first(tmp_path):
    root = _spleen_with(tmp_path, "train.loss", "{my_loss}")
    config_file = root / "config" / "config_train.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["my_loss"] = "DiceLoss"
    config_file.write_text(json.dumps(config), encoding="utf-8")
    assert first_refusal(load_mmar_config(root, "config/config_train.json"), TRAIN_BUILDS) is None
    mmar = load_mmar_config(root, "config/config_train.json", overrides={"my_loss": "DiceLos"})
    assert "unknown loss 'DiceLos'" in str(first_refusal(mmar, TRAIN_BUILDS))
    del config["my_loss"]  # unresolved: the run reports it, not this check
    config_file.write_text(json.dumps(config), encoding="utf-8")
    assert first_refusal(load_mmar_config(root, "config/config_train.json"), TRAIN_BUILDS) is None


def _all_keys(mmar) -> dict[str, tuple[str, ...]]:
    """Every key of every section, as if the workflow built them all (the strictest check)."""
    config = mmar.config
    if isinstance(config.get("train"), dict):
        out = {"train": tuple(config["train"])}
        if isinstance(config.get("validate"), dict):
            out["validate"] = tuple(config["validate"])
        return out
    return {"validate": tuple(config)}


def test_refuses_nothing_in_the_shipped_and_corpus_configs(clara_examples):
    """Over every config of the fixtures, the shipped archives and the Clara 4.x corpus
    (read only), each key checked: whatever the early check refuses, the real resolver
    refuses with the same message (a few corpus configs do name classes MONAI removed)."""
    load_families()
    configs = sorted(
        [
            *(REPO / "tests" / "fixtures").glob("*/config/config_*.json"),
            *(REPO / "mmars").glob("*/config/config_*.json"),
            *clara_examples.glob("*/config/*.json"),
        ]
    )
    checked = 0
    for path in configs:
        try:
            mmar = load_mmar_config(path.parents[1], path)
        except Exception:  # noqa: BLE001 - datalists, AutoML controllers: not workflow configs
            continue
        if not any(k in mmar.config for k in ("train", "evaluator", "inferer")):
            continue
        checked += 1
        early = first_refusal(mmar, _all_keys(mmar))
        if early is not None:
            assert early in [p.message for p in resolve_config(mmar).problems], path
    assert checked >= 25


@pytest.mark.slow
def test_every_name_the_registry_knows_is_accepted():
    """For each kind, the early index holds every name of the real (imported) table."""
    load_families()
    for kind in builtin._MODULES:
        early = kind_names(kind)
        assert early is not None, kind
        missing = set(builtin.registry(kind).names()) - set(early)
        assert not missing, (kind, sorted(missing)[:10])
