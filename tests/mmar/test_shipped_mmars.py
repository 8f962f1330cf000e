"""Every archive in mmars/ loads, resolves and builds its components (no training), so the
examples cannot rot when MONAI or the engine changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from clara_cli.mmar import layout
from clara_cli.workflows.session import RunRequest, open_session

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "mmars").glob("*/config/config_*.json"))


def _id(path: Path) -> str:
    return f"{path.parents[1].name}/{path.name}"


def _request(config: Path, phantom_dir: Path, tmp_path: Path) -> RunRequest:
    overrides = {
        "DATA_ROOT": str(phantom_dir),
        "DATASET_JSON": str(phantom_dir / "dataset_0.json"),
        "MMAR_CKPT_DIR": str(tmp_path / "models"),
        "MMAR_EVAL_OUTPUT_PATH": str(tmp_path / "eval"),
        "cache_rate": 0.0,
    }
    return RunRequest(config.parents[1], config.relative_to(config.parents[1]), overrides=overrides)


def test_every_mmar_has_the_standard_files():
    roots = sorted({c.parents[1] for c in CONFIGS})
    assert roots, "no MMAR in mmars/"
    for root in roots:
        for name in ("config/environment.json", "config/config_train.json", "docs/README.md"):
            assert (root / name).is_file(), f"{root.name}: {name}"
        assert (root / "commands" / "train.sh").is_file(), root.name


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS, ids=_id)
def test_every_component_builds(config, phantom_dir, tmp_path):
    from clara_cli.engine.wiring import Wiring
    from clara_cli.mmar.resolver import Runtime, Section
    from clara_cli.workflows.sections import build_sections

    session = open_session(_request(config, phantom_dir, tmp_path))
    if "train" in session.conf:
        train, validate = build_sections(session, bool(session.var("amp", False)))
        assert train.get("trainer") is not None
        assert validate is None or validate.get("evaluator") is not None
        return
    # Validation / inference configs: everything but the network, which needs a checkpoint.
    spec = {k: session.conf[k] for k in layout.SECTION_KEYS if k in session.conf}
    hooks = Wiring(session.variables, session.dist.device).hooks()
    section = Section("validate", spec, str(config), Runtime(hooks=hooks), session.conf, prefix="")
    built = [key for key in spec if key not in ("model", "evaluator")]
    assert built
    for key in built:
        section.get(key)
