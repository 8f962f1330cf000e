"""Every shipped config and every config of the real Clara 4.x archives in the conformance
corpus resolves without building anything; what cannot be resolved is reported with its
file and key path (what `clara check` will print)."""

from __future__ import annotations

from pathlib import Path

from clara_cli.mmar.loader import load_mmar_config
from clara_cli.mmar.resolved_config import resolve_config

REPO = Path(__file__).resolve().parents[2]


def _corpus() -> Path:
    """../shared/conformance/clara-examples beside the checkout (or its worktree folder)."""
    for parent in REPO.parents:
        candidate = parent / "shared" / "conformance" / "clara-examples"
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"no shared/conformance/clara-examples above {REPO}")


SHIPPED = sorted((REPO / "mmars").glob("*/config/config_*.json"))
CORPUS = sorted(_corpus().glob("*/config/*.json"))
# Point the archives' data paths somewhere harmless: nothing may be read from them.
OVERRIDES = {
    "DATA_ROOT": "/nonexistent/data",
    "DATASET_JSON": "/nonexistent/data/dataset.json",
    "MMAR_CKPT_DIR": "/nonexistent/models",
}
# Configs of the corpus that resolve cleanly today (train, validation and AIAA configs).
CLEAN = {
    "automl/trn_autoML_Enum.json",
    "automl/trn_autoML_LR_LP.json",
    "automl/trn_autoML_Loss_Optimizer.json",
    "automl/trn_autoML_Transform.json",
    "automl/trn_autoML_TransformProb.json",
    "deepgrow_2D/config_aiaa.json",
    "fl_privacy/config_train.json",
    "pathology/config_validation.json",
}


def _name(path: Path) -> str:
    return f"{path.parents[1].name}/{path.name}"


def test_every_config_resolves_without_building_a_module(count_modules):
    assert SHIPPED and len(CORPUS) > 15
    problems: dict[str, list[str]] = {}
    components = 0
    for path in SHIPPED + CORPUS:
        mmar = load_mmar_config(path.parents[1], path, overrides=OVERRIDES)
        resolved = resolve_config(mmar)
        components += sum(1 for _ in resolved.components())
        for problem in resolved.problems:
            # Every problem names the file and the key path it comes from.
            assert str(problem).startswith(f"{path}: {problem.key_path}"), str(problem)
        problems[_name(path)] = [p.key_path for p in resolved.problems]
    assert count_modules == []
    assert components > 400
    for path in SHIPPED:
        assert problems[_name(path)] == [], _name(path)
    for name in CLEAN:
        assert problems[name] == [], name
    # Its environment.json has no MMAR_TORCHSCRIPT and the TorchScript loader is switched
    # on (dont_load_ts_model: false): Clara would have stopped there too.
    assert problems["fl_privacy/config_validation.json"] == ["model"]


def test_a_disabled_loader_of_a_real_archive_needs_no_variable():
    # fl_privacy validates its TorchScript model; the checkpoint loader is switched off by
    # {dont_load_ckpt_model} and its environment.json has no MMAR_CKPT.
    path = _corpus() / "fl_privacy" / "config" / "config_validation.json"
    mmar = load_mmar_config(path.parents[1], path, overrides={"MMAR_TORCHSCRIPT": "/m/model.ts"})
    resolved = resolve_config(mmar)
    assert resolved.ok, resolved.problems
    torchscript, checkpoint = resolved.get("model")
    assert torchscript == {"ts_path": "/m/model.ts", "disabled": False}
    assert checkpoint == {"ckpt_path": "{MMAR_CKPT}", "disabled": True}
