"""clara synth thorax: thoracic CT phantoms with the four SegTHOR organs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from clara_cli.errors import DataError
from clara_cli.families.segthor.phantom import (
    ORGANS,
    ThoraxOptions,
    make_thorax_phantom,
    synthesize_thorax,
)

SMALL = ThoraxOptions(in_plane_size=64)


@pytest.fixture(scope="module")
def case():
    image, label = make_thorax_phantom((0, 1))
    image, label = sitk.DICOMOrient(image, "LPS"), sitk.DICOMOrient(label, "LPS")
    return sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(label), image.GetSpacing()


def test_same_seed_same_bytes():
    a, la = make_thorax_phantom((5, 2), SMALL)
    b, lb = make_thorax_phantom((5, 2), SMALL)
    c, _ = make_thorax_phantom((6, 2), SMALL)
    assert sitk.GetArrayFromImage(a).tobytes() == sitk.GetArrayFromImage(b).tobytes()
    assert sitk.GetArrayFromImage(la).tobytes() == sitk.GetArrayFromImage(lb).tobytes()
    assert sitk.GetArrayFromImage(a).tobytes() != sitk.GetArrayFromImage(c).tobytes()


def test_organs_have_realistic_hu_and_size(case):
    hu, label, spacing = case
    assert hu.dtype == np.int16 and label.dtype == np.uint8
    assert set(np.unique(label)) == {0, *ORGANS.values()}
    voxel_ml = spacing[0] * spacing[1] * spacing[2] / 1000.0
    heart_ml = (label == ORGANS["heart"]).sum() * voxel_ml
    assert 250 < heart_ml < 900
    # trachea: an air lumen in a soft-tissue wall, 16-20 mm across
    trachea = label == ORGANS["trachea"]
    assert np.median(hu[trachea]) < -500
    areas = trachea.sum(axis=(1, 2))[trachea.any(axis=(1, 2))] * spacing[0] * spacing[1]
    assert 150 < np.median(areas) < 350
    assert 20 < np.median(hu[label == ORGANS["oesophagus"]]) < 70
    aorta = np.median(hu[label == ORGANS["aorta"]])
    assert 30 < aorta < 270
    # the tubes run along z: the oesophagus on almost every slice, the aorta on most
    assert (label == ORGANS["oesophagus"]).any(axis=(1, 2)).mean() > 0.8
    assert (label == ORGANS["aorta"]).any(axis=(1, 2)).mean() > 0.6
    # lungs and air around the body, bone in the spine
    assert (hu < -700).mean() > 0.3 and hu.max() > 400


def test_synthesize_writes_msd_layout(tmp_path):
    datalist = synthesize_thorax(tmp_path / "d", num_cases=3, seed=1, options=SMALL)
    lists = json.loads(datalist.read_text(encoding="utf-8"))
    assert len(lists["training"]) + len(lists["validation"]) == 3
    meta = json.loads((tmp_path / "d" / "dataset.json").read_text(encoding="utf-8"))
    assert meta["labels"] == {
        "0": "background",
        "1": "oesophagus",
        "2": "heart",
        "3": "trachea",
        "4": "aorta",
    }
    item = lists["training"][0]
    image = sitk.ReadImage(str(tmp_path / "d" / item["image"]))
    label = sitk.ReadImage(str(tmp_path / "d" / item["label"]))
    assert image.GetSize() == label.GetSize() and image.GetSize()[0] == 64
    with pytest.raises(DataError, match="not empty"):
        synthesize_thorax(tmp_path / "d", num_cases=3, options=SMALL)


def test_too_small_is_refused():
    with pytest.raises(DataError, match="at least 32"):
        make_thorax_phantom(0, ThoraxOptions(in_plane_size=16))
