"""MONAI 0.5-0.8 meta-dict semantics on MetaTensor: the legacy transforms and handler views
that let Clara 4.x validation/inference configs invert, crop and name their cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import (
    CastToTyped,
    Compose,
    CropForegroundd,
    EnsureChannelFirstd,
    Invertd,
    Spacingd,
    ToNumpyd,
    ToTensord,
)

from clara_cli.engine.meta_dicts import LEGACY_CLASSES, MetaDictView, adopt

WHERE = "config_validation.json: pre_transforms[3]"


def _case() -> dict[str, MetaTensor]:
    """A 20x18x12 image (1.5 mm, shifted origin) with a bright box, and its label."""
    array = np.zeros((20, 18, 12), dtype=np.float32)
    array[4:15, 5:13, 3:9] = 1.0
    affine = np.diag([1.5, 1.5, 1.5, 1.0])
    affine[:3, 3] = [-10.0, 4.0, 2.5]
    meta = {"filename_or_obj": "/data/case_07.nii.gz", "affine": torch.as_tensor(affine)}
    image = MetaTensor(torch.as_tensor(array), meta=dict(meta))
    label = MetaTensor(torch.as_tensor(array > 0.5).float(), meta=dict(meta))
    return {"image": image, "label": label}


def _pre_transforms(to_tensor: ToTensord) -> Compose:
    keys = ["image", "label"]
    return Compose(
        [
            EnsureChannelFirstd(keys, channel_dim="no_channel"),
            Spacingd(keys, pixdim=(3.0, 3.0, 3.0), mode=("bilinear", "nearest")),
            CropForegroundd(keys, source_key="image"),
            to_tensor,
        ]
    )


def _invert(pre: Compose) -> Invertd:
    return Invertd(keys="pred", transform=pre, orig_keys="image", nearest_interp=True)


def test_monai_to_tensord_loses_the_trace_so_invertd_fails():
    # Why the shim exists: if MONAI ever keeps the trace, this fails and the shim can go.
    pre = _pre_transforms(ToTensord(["image", "label"]))
    data = pre(_case())
    assert [op["class"] for op in data["image"].applied_operations] == ["ToTensord"]
    with pytest.raises(RuntimeError):
        _invert(pre)({**data, "pred": data["label"].clone()})


def test_legacy_to_tensord_keeps_the_trace_and_invertd_restores_the_input_grid(warnings_seen):
    pre = _pre_transforms(adopt(ToTensord(["image", "label"]), WHERE))
    case = _case()
    data = pre(case)
    assert [op["class"] for op in data["image"].applied_operations] == [
        "SpatialResample",
        "CropForeground",
        "LegacyToTensord",
    ]
    assert tuple(data["image"].shape) != (1, 20, 18, 12)
    inverted = _invert(pre)({**data, "pred": data["label"].clone()})
    pred = inverted["pred"]
    assert isinstance(pred, MetaTensor) and tuple(pred.shape) == (1, 20, 18, 12)
    assert torch.allclose(pred.affine, case["image"].affine.to(pred.affine.dtype))
    assert pred.meta["filename_or_obj"] == "/data/case_07.nii.gz"
    # The label went to 3 mm and back: the box is where it was, up to one coarse voxel.
    overlap = (pred[0] > 0.5) & (case["label"] > 0.5)
    assert overlap.sum() / (case["label"] > 0.5).sum() > 0.8
    inverted = _invert(pre)({**data, "pred": data["label"].clone()})
    messages = warnings_seen()
    assert len(messages) == 1 and messages[0].startswith(f"{WHERE}: ToTensord's inverse")


def test_to_numpy_cast_to_tensor_round_trip_keeps_metadata_and_trace(warnings_seen):
    keys = ["image", "label"]
    pre = _pre_transforms(adopt(ToTensord(keys), WHERE))
    data = pre(_case())
    before = [op["class"] for op in data["image"].applied_operations]
    # DeepGrow's click loop: to numpy, work on arrays, back to tensors.
    as_numpy = adopt(ToNumpyd(keys), "iteration.args.transforms[1]")(data)
    assert isinstance(as_numpy["image"], np.ndarray)
    cast = CastToTyped(keys, dtype=np.float32)(as_numpy)
    back = adopt(ToTensord(keys), "iteration.args.transforms[5]")(cast)
    image = back["image"]
    assert isinstance(image, MetaTensor)
    assert image.meta["filename_or_obj"] == "/data/case_07.nii.gz"
    assert [op["class"] for op in image.applied_operations] == before + ["LegacyToTensord"]
    assert "image_meta_dict" not in back and "image_transforms" not in back
    messages = warnings_seen()
    assert sum("ToNumpyd drops a MetaTensor's metadata" in m for m in messages) == 1


def test_to_numpyd_parks_no_metadata_for_a_network_output(warnings_seen):
    # MONAI 0.x had no `pred_meta_dict`: parking one (and its trace) would add keys that a
    # batch of two items cannot collate (DeepGrow's click loop re-collates every step).
    from monai.data import list_data_collate

    items = []
    for _ in range(2):
        data = _case()
        data["pred"] = MetaTensor(torch.zeros(1, 20, 18, 12))  # a network output: no file
        items.append(adopt(ToNumpyd(["image", "pred"]), "iteration.args.transforms[1]")(data))
    assert "image_meta_dict" in items[0] and "pred_meta_dict" not in items[0]
    assert "pred_transforms" not in items[0]
    batch = list_data_collate(items)
    assert batch["pred"].shape == (2, 1, 20, 18, 12)


def test_cast_to_typed_keeps_the_metatensor_without_a_shim():
    image = _case()["image"]
    for dtype in (np.float32, np.uint8, torch.float16):
        out = CastToTyped("image", dtype=dtype)({"image": image})["image"]
        assert isinstance(out, MetaTensor)
        assert out.meta["filename_or_obj"] == "/data/case_07.nii.gz"


def test_legacy_invertd_inverts_a_plain_tensor_with_the_trace_of_orig_keys(warnings_seen):
    pre = _pre_transforms(adopt(ToTensord(["image", "label"]), WHERE))
    data = pre(_case())
    plain = data["label"].as_tensor().clone()  # what a TorchScript network returns
    assert not isinstance(plain, MetaTensor)
    with pytest.warns(UserWarning, match="not available"):
        skipped = _invert(pre)({**data, "pred": plain})
    assert tuple(skipped["pred"].shape) == tuple(plain.shape)  # MONAI: silently not inverted
    invertd = adopt(_invert(pre), "post_transforms[1]")
    inverted = invertd({**data, "pred": plain})
    assert tuple(inverted["pred"].shape) == (1, 20, 18, 12)
    assert any("'pred' is a plain tensor" in m for m in warnings_seen())


def test_adopt_leaves_other_classes_and_user_subclasses_alone():
    class Mine(ToTensord):
        pass

    mine = Mine("image")
    assert adopt(mine, WHERE) is mine and type(mine) is Mine
    spacing = Spacingd("image", pixdim=(1.0, 1.0, 1.0))
    assert type(adopt(spacing, WHERE)) is Spacingd
    assert all(issubclass(legacy, monai) for monai, legacy in LEGACY_CLASSES.items())


def test_deepgrow_spatial_crop_foreground_writes_into_the_metatensor_metadata(warnings_seen):
    from monai.apps.deepgrow.transforms import SpatialCropForegroundd

    crop = adopt(
        SpatialCropForegroundd(["image", "label"], source_key="label", spatial_size=[8, 8, 8]),
        WHERE,
    )
    data = EnsureChannelFirstd(["image", "label"], channel_dim="no_channel")(_case())
    with pytest.raises(KeyError):  # MONAI's own transform wants MONAI 0.x's meta dict
        SpatialCropForegroundd(["image", "label"], source_key="label", spatial_size=[8, 8, 8])(data)
    out = crop(data)
    meta = out["image_meta_dict"]
    start, end = (
        np.asarray(meta["foreground_start_coord"]),
        np.asarray(meta["foreground_end_coord"]),
    )
    assert tuple(out["image"].shape[1:]) == tuple(end - start)
    assert (start <= [4, 5, 3]).all() and (end >= [15, 13, 9]).all()  # the box is inside
    assert sum("SpatialCropForegroundd indexes" in m for m in warnings_seen()) == 1


def _batch() -> list[dict]:
    items = []
    for name in ("a", "b"):
        image = MetaTensor(torch.zeros(1, 4, 4, 4), meta={"filename_or_obj": f"/d/{name}.nii.gz"})
        items.append({"image": image, "label": image.clone()})
    return items


def test_meta_dict_view_runs_a_monai_0x_batch_lambda_per_item():
    view = MetaDictView(eval("lambda x: x['image_meta_dict']"), per_item=True)
    metas = view(_batch())
    assert [m["filename_or_obj"] for m in metas] == ["/d/a.nii.gz", "/d/b.nii.gz"]


def test_meta_dict_view_gives_from_engine_the_list():
    from monai.handlers import from_engine

    view = MetaDictView(from_engine(["image_meta_dict"]), per_item=False)
    metas = view(_batch())
    assert [m["filename_or_obj"] for m in metas] == ["/d/a.nii.gz", "/d/b.nii.gz"]
    with pytest.raises(KeyError):
        from_engine(["image_meta_dict"])(_batch())
