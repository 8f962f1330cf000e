"""The BraTS configs load both datalist layouts alike, also from CacheDataset's threads."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from clara_cli.families.brats.phantom import PhantomOptions, synthesize_brats
from clara_cli.io.datalist import load_datalist
from clara_cli.workflows.session import RunRequest, open_session

REPO = Path(__file__).resolve().parents[2]
MMAR = REPO / "mmars" / "clara_pt_brain_mri_segmentation"


@pytest.fixture(scope="module")
def layouts(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("brats_layouts")
    for layout in ("files", "4d"):
        synthesize_brats(root / layout, 3, seed=5, options=PhantomOptions(size=24), layout=layout)
    return {layout: root / layout for layout in ("files", "4d")}


def _pre_transforms(data: Path):
    from clara_cli.mmar.resolver import Runtime, Section

    overrides = {"DATA_ROOT": str(data), "DATASET_JSON": str(data / "dataset_0.json")}
    session = open_session(RunRequest(MMAR, "config/config_validation.json", overrides=overrides))
    spec = {"pre_transforms": session.conf["pre_transforms"]}
    return Section("validate", spec, "config_validation.json", Runtime(), session.conf).get(
        "pre_transforms"
    )


def _items(data: Path) -> list[dict]:
    lists = json.loads((data / "dataset_0.json").read_text())
    keys = [k for k in ("training", "validation") if lists.get(k)]
    items = [i for k in keys for i in load_datalist(data / "dataset_0.json", k, data)]
    return sorted(items, key=lambda item: str(item["label"]))


def test_both_layouts_give_the_same_four_channel_input_and_three_regions(layouts):
    loaded = {}
    for layout, data in layouts.items():
        transform = _pre_transforms(data)
        loaded[layout] = [transform(item) for item in _items(data)]
    for files, packed in zip(loaded["files"], loaded["4d"], strict=True):
        assert files["image"].shape[0] == 4 and files["image"].shape == packed["image"].shape
        assert np.allclose(np.asarray(files["image"]), np.asarray(packed["image"]))
        assert files["label"].shape[0] == 3  # TC, WT, ET
        assert np.array_equal(np.asarray(files["label"]), np.asarray(packed["label"]))
        brain = np.asarray(files["image"][0]) != 0
        # Per-channel z-scores over the brain only (nonzero=True, channel_wise=True).
        for channel in np.asarray(files["image"]):
            assert abs(channel[brain].mean()) < 1e-3 and abs(channel[brain].std() - 1) < 1e-2


def test_four_files_per_case_load_whole_from_concurrent_threads(layouts):
    # MONAI's NibabelReader keeps the file list of its last read() on the reader, so one
    # LoadImaged shared by threads could stack a 4-file image with a label's 1-file list
    # (a 1-channel "image"). The configs load image and label with separate LoadImaged.
    data = layouts["files"]
    transform = _pre_transforms(data)
    items = _items(data) * 4
    for _ in range(5):
        with ThreadPoolExecutor(max_workers=2) as pool:
            outputs = list(pool.map(transform, items))
        assert {tuple(o["image"].shape[:1]) for o in outputs} == {(4,)}
