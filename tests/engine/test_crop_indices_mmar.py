"""A Clara 4.1 training config on phantom CTs: cached crop indices, the same crops as without."""

from __future__ import annotations

import torch
from monai.transforms import FgBgToIndicesd, RandCropByPosNegLabeld

from clara_cli.engine.wiring import registered_rules, unregister_rule

RULE = "crop_indices.cached"


def _train_section(mmar, cached_indices: bool):
    from clara_cli.workflows.sections import build_sections
    from clara_cli.workflows.session import RunRequest, open_session

    with registered_rules().scoped():
        if not cached_indices:
            unregister_rule(RULE)
        session = open_session(RunRequest(mmar, "config/config_train.json"))
        train, _ = build_sections(session, False)
        train.get("dataset")
    return train


def _crops(dataset) -> tuple[list, list]:
    crop = next(t for t in dataset.transform.transforms if isinstance(t, RandCropByPosNegLabeld))
    dataset.transform.set_random_state(seed=0)
    patches, centers = [], []
    for _ in range(2):
        for index in range(len(dataset)):
            patches += [(s["image"].clone(), s["label"].clone()) for s in dataset[index]]
            centers.append([tuple(int(c) for c in center) for center in crop.cropper.centers])
    return patches, centers


def test_a_clara_41_config_samples_the_same_patches_from_cached_indices(mmar_41):
    plain = _train_section(mmar_41, cached_indices=False).get("dataset")
    train = _train_section(mmar_41, cached_indices=True)
    cached = train.get("dataset")

    steps = [type(t) for t in cached.transform.transforms]
    assert steps[steps.index(RandCropByPosNegLabeld) - 2] is FgBgToIndicesd
    assert cached._cache[0]["label_clara_fg_indices"].dtype == torch.int32
    assert FgBgToIndicesd not in [type(t) for t in plain.transform.transforms]
    assert "label_clara_fg_indices" in cached._cache[0]

    plain_patches, plain_centers = _crops(plain)
    cached_patches, cached_centers = _crops(cached)
    assert cached_centers == plain_centers
    assert len(cached_patches) == len(plain_patches) > 0
    for (image_a, label_a), (image_b, label_b) in zip(plain_patches, cached_patches, strict=True):
        assert torch.equal(image_a, image_b) and torch.equal(label_a, label_b)

    # The trainer's loader batches cases of different sizes: no index key reaches the batch.
    batch = next(iter(train.get("dataloader")))
    assert not [key for key in batch if "indices" in str(key)]
    assert batch["image"].shape[0] == 4  # batch_size 2 x num_samples 2
