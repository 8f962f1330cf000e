"""A PersistentDataset without `cache_dir` (optional in MONAI 0.x) caches under the run's
output, keyed by item and pre-transforms, keeping each image's metadata."""

from __future__ import annotations

import logging

import numpy as np
import SimpleITK as sitk
from monai.data import LMDBDataset, PersistentDataset
from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged, MapTransform, Spacingd

from clara_cli.engine.wiring.persistent_cache import transform_hash

RULE = "persistent_cache.cache_dir"


def _variables(tmp_path):
    return {"MMAR_ROOT": str(tmp_path / "mmar"), "MMAR_CKPT_DIR": str(tmp_path / "out" / "models")}


def test_the_cache_folder_sits_beside_the_models_and_is_named_by_section(kit, tmp_path, caplog):
    ctx = kit.context(
        PersistentDataset,
        args={"data": []},
        section=kit.Section("validate"),
        spec={"name": "PersistentDataset"},
        variables=_variables(tmp_path),
    )
    with caplog.at_level(logging.INFO, logger="clara"):
        args = kit.before(RULE, ctx)
        kit.before(RULE, ctx)  # said once per component
    folder = tmp_path / "out" / "cache" / "persistent" / "validate"
    assert args["cache_dir"] == folder and folder.is_dir()
    assert args["hash_transform"] is transform_hash
    assert args["track_meta"] is True and args["weights_only"] is False
    said = [r.getMessage() for r in caplog.records if "PersistentDataset" in r.getMessage()]
    assert len(said) == 1 and f"caching to {folder}" in said[0]


def test_without_a_models_folder_the_cache_is_under_mmar_root(kit, tmp_path):
    variables = {"MMAR_ROOT": str(tmp_path / "mmar")}
    ctx = kit.context(PersistentDataset, spec={"name": "PersistentDataset"}, variables=variables)
    args = kit.before(RULE, ctx)
    assert args["cache_dir"] == tmp_path / "mmar" / "cache" / "persistent" / "train"


def test_a_cache_dir_written_in_the_config_is_kept(kit, tmp_path):
    spec = {"name": "PersistentDataset", "args": {"cache_dir": str(tmp_path / "mine")}}
    ctx = kit.context(PersistentDataset, args={"cache_dir": str(tmp_path / "mine")}, spec=spec)
    assert not kit.applies(RULE, ctx)
    # LMDBDataset has a cache_dir default of its own: nothing to fill.
    assert not kit.applies(RULE, kit.context(LMDBDataset, spec={"name": "LMDBDataset"}))


def _image(path) -> str:
    image = sitk.GetImageFromArray(np.arange(6 * 6 * 6, dtype=np.float32).reshape(6, 6, 6))
    image.SetSpacing((2.0, 2.0, 2.0))
    sitk.WriteImage(image, str(path))
    return str(path)


def _transform(pixdim: float) -> Compose:
    keys = "image"
    return Compose([LoadImaged(keys), EnsureChannelFirstd(keys), Spacingd(keys, pixdim=pixdim)])


def test_cached_items_keep_their_metadata_and_a_changed_transform_is_not_reused(kit, tmp_path):
    data = [{"image": _image(tmp_path / "a.nii.gz")}]

    def dataset(transform: Compose) -> PersistentDataset:
        ctx = kit.context(
            PersistentDataset,
            args={"data": data, "transform": transform},
            spec={"name": "PersistentDataset"},
            variables=_variables(tmp_path),
        )
        return PersistentDataset(**kit.before(RULE, ctx))

    first = dataset(_transform(1.0))
    fresh = first[0]["image"]
    cached = first[0]["image"]  # read back from the cache file
    folder = tmp_path / "out" / "cache" / "persistent" / "train"
    assert len(list(folder.glob("*.pt"))) == 1
    assert cached.meta["filename_or_obj"] == data[0]["image"]
    assert len(cached.applied_operations) == len(fresh.applied_operations) > 0
    assert np.allclose(cached.numpy(), fresh.numpy())
    # Another pixdim is another cache entry, not the stale 1 mm one.
    other = dataset(_transform(2.0))[0]["image"]
    assert len(list(folder.glob("*.pt"))) == 2
    assert other.shape != cached.shape


def test_a_transform_that_cannot_be_pickled_still_keys_the_cache():
    def local(offset: float) -> MapTransform:
        class Shift(MapTransform):  # defined in a function: pickle refuses it
            def __init__(self) -> None:
                super().__init__("image")
                self.offset = offset

            def __call__(self, data):
                return data

        return Shift()

    same = transform_hash([LoadImaged("image"), local(1.0)])
    assert same == transform_hash([LoadImaged("image"), local(1.0)])
    assert same != transform_hash([LoadImaged("image"), local(2.0)])
    assert same != transform_hash([LoadImaged("label"), local(1.0)])
