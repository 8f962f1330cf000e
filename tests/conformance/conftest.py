"""The conformance corpus (real Clara 4.x archives, never edited) and harmless stand-ins for
the files their environment.json points at."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def corpus(clara_examples: Path) -> Path:
    """The conformance corpus (tests/conftest.py's `clara_examples`)."""
    return clara_examples


@pytest.fixture
def stand_ins(tmp_path: Path) -> dict[str, str]:
    """`--set` values pointing every path variable at files that exist (none is read):
    what a user who has the data, a trained checkpoint and its export passes."""
    datalist = tmp_path / "dataset.json"
    datalist.write_text(json.dumps({"training": [], "validation": []}), encoding="utf-8")
    for name in ("model.pt", "model.ts"):
        (tmp_path / name).write_bytes(b"")
    return {
        "DATA_ROOT": str(tmp_path),
        "DATASET_JSON": str(datalist),
        "MMAR_CKPT_DIR": str(tmp_path / "models"),
        "MMAR_CKPT": str(tmp_path / "model.pt"),
        "MMAR_TORCHSCRIPT": str(tmp_path / "model.ts"),
        "MMAR_EVAL_OUTPUT_PATH": str(tmp_path / "eval"),
    }
