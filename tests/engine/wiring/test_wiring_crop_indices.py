"""Label-driven crops of a cached dataset read cached indices, and sample exactly as before."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from monai.data import CacheDataset, DataLoader, Dataset
from monai.transforms import (
    ClassesToIndicesd,
    Compose,
    FgBgToIndicesd,
    RandCropByLabelClassesd,
    RandCropByPosNegLabeld,
    RandShiftIntensityd,
    ScaleIntensityd,
)

from clara_cli.engine.wiring.crop_indices import (
    as_int32,
    int32_indices_type,
    with_cached_crop_indices,
)

RULE = "crop_indices.cached"


def _phantom(cases: int = 3, size: int = 20, classes: int = 2) -> list[dict]:
    """Noise images with one box of labels per case, a different size in each case."""
    rng = np.random.default_rng(7)
    items = []
    for case in range(cases):
        image = rng.normal(size=(1, size, size, size)).astype(np.float32)
        image[:, :2] = -5.0  # a dark slab: 0 once scaled, below the image threshold of some crops
        label = np.zeros((1, size, size, size), dtype=np.uint8)
        lo, hi = 4 + case, 10 + 2 * case
        label[:, lo:hi, lo:hi, lo:hi] = 1
        if classes > 2:
            label[:, lo:hi, lo : lo + 2, lo:hi] = 2
        items.append({"image": torch.from_numpy(image), "label": torch.from_numpy(label)})
    return items


def _pos_neg(**extra) -> RandCropByPosNegLabeld:
    return RandCropByPosNegLabeld(
        keys=["image", "label"], label_key="label", spatial_size=[8, 8, 8], pos=1, neg=1,
        num_samples=3, **extra,
    )  # fmt: skip


def _label_classes(**extra) -> RandCropByLabelClassesd:
    return RandCropByLabelClassesd(
        keys=["image", "label"], label_key="label", spatial_size=[8, 8, 8], ratios=[1, 2, 3],
        num_classes=3, num_samples=3, **extra,
    )  # fmt: skip


def _pipeline(crop) -> Compose:
    return Compose(
        [
            ScaleIntensityd(keys="image"),
            crop,
            RandShiftIntensityd(keys="image", offsets=0.1, prob=0.5),
        ]
    )


def _sample(dataset, crop, epochs: int = 2) -> tuple[list, list]:
    """Every patch (image and label) and every crop center, two epochs, seed 0."""
    dataset.transform.set_random_state(seed=0)
    patches, centers = [], []
    for _ in range(epochs):
        for index in range(len(dataset)):
            for sample in dataset[index]:
                patches.append((sample["image"].clone(), sample["label"].clone()))
            centers.append([tuple(int(c) for c in center) for center in crop.cropper.centers])
    return patches, centers


@pytest.mark.parametrize(
    "make_crop, classes",
    [
        (_pos_neg, 2),
        (lambda: _pos_neg(image_key="image", image_threshold=0.05), 2),
        (_label_classes, 3),
        (lambda: _label_classes(image_key="image", image_threshold=0.05), 3),
    ],
    ids=["pos-neg", "pos-neg-image-threshold", "label-classes", "label-classes-image-threshold"],
)
def test_the_same_seed_gives_bit_identical_crops_with_and_without_cached_indices(
    kit, make_crop, classes
):
    data = _phantom(classes=classes)
    plain_crop, cached_crop = make_crop(), make_crop()
    plain = CacheDataset(data, _pipeline(plain_crop), progress=False)
    ctx = kit.context(CacheDataset, {"data": data, "transform": _pipeline(cached_crop)})
    cached = CacheDataset(**kit.before(RULE, ctx), progress=False)

    # The indices were computed while caching, not by the crop, and are stored as int32.
    index_keys = set(cached._cache[0]) - set(data[0])
    assert len(index_keys) == (2 if classes == 2 else 1)
    for key in index_keys:
        for indices in cached._cache[0][key] if classes > 2 else [cached._cache[0][key]]:
            assert indices.dtype == torch.int32

    plain_patches, plain_centers = _sample(plain, plain_crop)
    cached_patches, cached_centers = _sample(cached, cached_crop)
    assert cached_centers == plain_centers
    assert len(set(map(tuple, plain_centers))) > 1  # the crops do move between visits
    assert len(cached_patches) == len(plain_patches) == 2 * 3 * 3
    for (image_a, label_a), (image_b, label_b) in zip(plain_patches, cached_patches, strict=True):
        assert torch.equal(image_a, image_b)
        assert torch.equal(label_a, label_b)


def test_the_indices_are_cached_before_the_crop_and_never_reach_the_batch(kit, caplog):
    data = _phantom()
    crop = _pos_neg()
    config_pipeline = _pipeline(crop)
    ctx = kit.context(CacheDataset, {"data": data, "transform": config_pipeline})
    with caplog.at_level(logging.INFO, logger="clara"):
        transform = kit.before(RULE, ctx)["transform"]

    steps = transform.transforms
    assert [type(s) for s in steps[:2]] == [ScaleIntensityd, FgBgToIndicesd]
    assert type(steps[2]).__name__ == "Int32Indicesd"
    assert isinstance(steps[3], RandCropByPosNegLabeld)
    assert len(config_pipeline.transforms) == 3  # the config's Compose is left as it was
    assert (crop.fg_indices_key, crop.bg_indices_key) == (
        "label_clara_fg_indices",
        "label_clara_bg_indices",
    )
    lines = [r.getMessage() for r in caplog.records if "cached with each item" in r.getMessage()]
    assert len(lines) == 1 and "FgBgToIndicesd" in lines[0] and "int32" in lines[0]

    # Cases with foregrounds of different sizes batch together: the crop pops the indices.
    loader = DataLoader(CacheDataset(data, transform, progress=False), batch_size=2)
    batch = next(iter(loader))
    assert set(batch) == {"image", "label"}
    assert batch["image"].shape == (6, 1, 8, 8, 8)


def test_a_label_classes_crop_reads_cached_class_indices(kit):
    crop = _label_classes()
    ctx = kit.context(CacheDataset, {"data": _phantom(classes=3), "transform": _pipeline(crop)})
    steps = kit.before(RULE, ctx)["transform"].transforms
    assert isinstance(steps[1], ClassesToIndicesd)
    assert crop.indices_key == "label_clara_cls_indices"


def test_a_crop_that_already_reads_indices_is_left_alone(kit):
    # The spleen MMAR's own spelling: FgBgToIndicesd in the config, the crop pointed at it.
    crop = _pos_neg(fg_indices_key="label_fg", bg_indices_key="label_bg")
    pipeline = Compose([FgBgToIndicesd(keys="label", fg_postfix="_fg", bg_postfix="_bg"), crop])
    ctx = kit.context(CacheDataset, {"data": [], "transform": pipeline})
    assert kit.before(RULE, ctx)["transform"] is pipeline
    assert crop.fg_indices_key == "label_fg"


def test_a_crop_after_another_random_transform_is_left_alone(kit):
    # The label the crop sees is not the cached one: its indices cannot be cached.
    crop = _pos_neg()
    pipeline = Compose([RandShiftIntensityd(keys="image", offsets=0.1, prob=0.5), crop])
    ctx = kit.context(CacheDataset, {"data": [], "transform": pipeline})
    assert kit.before(RULE, ctx)["transform"] is pipeline
    assert crop.fg_indices_key is None


def test_a_lazily_resampling_pipeline_is_left_alone():
    pipeline = Compose([ScaleIntensityd(keys="image"), _pos_neg()], lazy=True)
    assert with_cached_crop_indices(pipeline) is pipeline


def test_only_a_dataset_that_caches_gets_cached_indices(kit):
    transform = _pipeline(_pos_neg())
    assert not kit.applies(RULE, kit.context(Dataset, {"data": [], "transform": transform}))
    for nothing_cached in ({"cache_rate": 0.0}, {"cache_num": 0}):
        args = {"data": [], "transform": transform, **nothing_cached}
        assert not kit.applies(RULE, kit.context(CacheDataset, args))


def test_int32_and_int64_cached_indices_give_the_same_crops():
    # MONAI's own pipeline (int64 indices) against the same one storing them as int32.
    data = _phantom()
    crops, patches, centers = [], [], []
    for int32 in (False, True):
        crop = _pos_neg(fg_indices_key="label_fg", bg_indices_key="label_bg")
        steps = [FgBgToIndicesd(keys="label", fg_postfix="_fg", bg_postfix="_bg")]
        if int32:
            steps.append(int32_indices_type()(keys=["label_fg", "label_bg"]))
        dataset = CacheDataset(data, Compose([*steps, crop]), progress=False)
        assert dataset._cache[0]["label_fg"].dtype == (torch.int32 if int32 else torch.int64)
        found = _sample(dataset, crop)
        crops.append(crop)
        patches.append(found[0])
        centers.append(found[1])
    assert centers[0] == centers[1] and len(set(map(tuple, centers[0]))) > 1
    for (image_a, label_a), (image_b, label_b) in zip(*patches, strict=True):
        assert torch.equal(image_a, image_b) and torch.equal(label_a, label_b)


def test_indices_beyond_int32_stay_int64():
    small = torch.tensor([0, 5, 2**31 - 1])
    large = torch.tensor([0, 5, 2**31])
    assert as_int32(small).dtype == torch.int32
    assert torch.equal(as_int32(small), small.to(torch.int32))
    assert as_int32(large).dtype == torch.int64
    assert as_int32(np.array([3, 4])).dtype == np.int32
    assert [i.dtype for i in as_int32([small, large])] == [torch.int32, torch.int64]
    assert as_int32(torch.tensor([], dtype=torch.int64)).dtype == torch.int64
