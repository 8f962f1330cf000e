"""One line when most of a datalist is not cached, with what caching all would take."""

from __future__ import annotations

import logging

import numpy as np
import torch
from monai.data import CacheDataset, SmartCacheDataset

from clara_cli.engine.wiring.cache_report import cache_summary, nbytes

RULE = "cache_report.partial_cache"


def _items(count: int) -> list[dict]:
    return [{"image": torch.zeros(1, 10, 10, 10), "label": np.zeros(1000, np.uint8)}] * count


def test_nbytes_counts_tensors_arrays_and_index_lists():
    item = {
        "image": torch.zeros(2, 5, dtype=torch.float32),
        "indices": [torch.zeros(3, dtype=torch.int64), np.zeros(4, np.int64)],
        "name": "case.nii.gz",
    }
    assert nbytes(item) == 40 + 24 + 32


def test_most_items_uncached_is_said_in_one_line_with_the_memory_to_cache_all(kit, caplog):
    dataset = CacheDataset(_items(8), cache_num=2, progress=False)
    with caplog.at_level(logging.INFO, logger="clara"):
        assert kit.after(RULE, kit.after_context(dataset)) is dataset
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    # One item: 4000 bytes of float32 image + 1000 bytes of label; all eight: 40 kB.
    assert "2 of 8 items cached" in lines[0]
    assert "about 40.0 kB (5.0 kB per item" in lines[0]


def test_half_or_more_cached_says_nothing():
    assert cache_summary(CacheDataset(_items(8), cache_num=4, progress=False)) is None
    assert cache_summary(CacheDataset(_items(8), progress=False)) is None


def test_nothing_cached_yet_says_so_without_an_estimate():
    line = cache_summary(CacheDataset(_items(4), cache_num=1, runtime_cache=True, progress=False))
    assert line is not None and line.startswith("1 of 4 items cached")
    assert "no item is cached yet" in line


def test_smart_cache_is_partial_by_design_and_not_reported(kit):
    dataset = SmartCacheDataset(_items(8), replace_rate=0.5, cache_num=2, progress=False)
    assert not kit.applies(RULE, kit.after_context(dataset))
