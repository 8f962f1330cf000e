"""The transforms clara inserts survive pickling, as DataLoader workers started with spawn need."""

from __future__ import annotations

import multiprocessing
import pickle

import numpy as np
import pytest
import torch
from monai.data import DataLoader, Dataset
from monai.transforms import Compose

from clara_cli.engine.inserted_transforms import Int32Indicesd, RequireFinited
from clara_cli.errors import DataError


def test_inserted_transforms_pickle_and_keep_working():
    finite = pickle.loads(pickle.dumps(RequireFinited(keys="image")))
    compact = pickle.loads(pickle.dumps(Int32Indicesd(keys="fg")))
    out = compact({"fg": np.arange(5, dtype=np.int64)})
    assert out["fg"].dtype == np.int32
    with pytest.raises(DataError, match="1 NaN voxel"):
        finite({"image": torch.tensor([0.0, float("nan")])})


def test_spawned_dataloader_workers_run_them():
    items = [{"image": torch.ones(1, 4, 4), "fg": np.arange(3, dtype=np.int64)}]
    pipeline = Compose([RequireFinited(keys="image"), Int32Indicesd(keys="fg")])
    loader = DataLoader(
        Dataset(items, pipeline),
        batch_size=1,
        num_workers=1,
        multiprocessing_context=multiprocessing.get_context("spawn"),
    )
    (batch,) = list(loader)
    assert batch["fg"].dtype == torch.int32
