"""`clara synth abdomen` and DeepGrow sample preparation of its multi-organ label maps."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
from click.testing import CliRunner

from clara_cli.cli.main import cli
from clara_cli.data.deepgrow import prepare_deepgrow
from clara_cli.families.deepgrow.phantom import (
    ORGANS,
    AbdomenOptions,
    make_abdomen_phantom,
    synthesize_abdomen,
)
from clara_cli.io.points import index_to_physical
from clara_cli.io.prediction import read_grid

SMALL = AbdomenOptions(in_plane_size=40)


@pytest.fixture(scope="module")
def abdomen_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("abdomen")
    synthesize_abdomen(root, num_cases=3, seed=3, options=SMALL, train_fraction=0.67)
    return root


def test_every_organ_is_labelled_with_its_own_contrast():
    image, label = make_abdomen_phantom((0, 1), AbdomenOptions(in_plane_size=64))
    hu, labels = sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(label)
    assert sorted(np.unique(labels)) == [0, *ORGANS]
    mean = {name: float(hu[labels == value].mean()) for value, name in ORGANS.items()}
    # contrast order of a portal-venous CT: bile/stomach < liver < spleen < kidney, aorta
    assert mean["gallbladder"] < mean["liver"] - 25 < mean["spleen"] - 50
    assert mean["stomach"] < mean["liver"] - 25
    assert mean["spleen"] < mean["right_kidney"] - 10 and mean["spleen"] < mean["aorta"] - 40
    sizes = {name: int((labels == value).sum()) for value, name in ORGANS.items()}
    assert sizes["liver"] > 3 * sizes["spleen"] > 3 * sizes["gallbladder"]  # different shapes


def test_anatomy_sits_in_physical_space_whatever_the_stored_direction():
    directions = set()
    for case in range(1, 7):
        image, label = make_abdomen_phantom((0, case), SMALL)
        directions.add(image.GetDirection())
        spacing = image.GetSpacing()
        assert spacing[0] == spacing[1] < spacing[2]  # anisotropic: thick slices
        grid, labels = read_grid_of(image), sitk.GetArrayFromImage(label)
        side = {value: _side(grid, labels == value) for value in ORGANS}
        assert side[5] < 0 < side[1]  # liver on the patient's right, spleen on the left
        assert side[2] < 0 < side[3]  # right and left kidneys
    assert len(directions) > 1, "no flipped case among the first six"


def _side(grid, mask) -> float:
    """LPS x of the mask's centroid relative to the volume centre (+ is the patient's left)."""
    z, y, x = np.nonzero(mask)
    centroid = index_to_physical(grid, [np.mean(x), np.mean(y), np.mean(z)])
    return float(centroid[0] - index_to_physical(grid, [(n - 1) / 2 for n in grid.size])[0])


def read_grid_of(image):
    from clara_cli.io.prediction import Grid

    return Grid(image.GetSize(), image.GetSpacing(), image.GetOrigin(), image.GetDirection())


def test_same_seed_same_bytes_and_organ_names(abdomen_root, tmp_path):
    again = tmp_path / "again"
    synthesize_abdomen(again, num_cases=3, seed=3, options=SMALL, train_fraction=0.67)
    for folder in ("imagesTr", "labelsTr"):
        for path in sorted((abdomen_root / folder).iterdir()):
            a = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
            b = sitk.GetArrayFromImage(sitk.ReadImage(str(again / folder / path.name)))
            np.testing.assert_array_equal(a, b)
    described = json.loads((abdomen_root / "dataset.json").read_text())
    assert described["labels"]["5"] == "liver" and len(described["labels"]) == 8


def test_deepgrow_3d_samples_one_per_organ_and_case(abdomen_root, tmp_path):
    report = prepare_deepgrow(abdomen_root, tmp_path / "dg", pixdim=[1, 1, 3], train_fraction=0.67)
    datalist = json.loads(report.datalist.read_text())
    entries = datalist["training"] + datalist["validation"]
    assert (report.cases, report.samples) == (3, 3 * len(ORGANS))
    assert {(e["case"], e["organ"]) for e in entries} == {
        (f"abdomen_0{i}", name) for i in (1, 2, 3) for name in ORGANS.values()
    }
    assert all(ORGANS[e["region"]] == e["organ"] for e in entries)
    for entry in entries[:: len(ORGANS)]:  # one per case: the image is shared by its organs
        grid = read_grid(entry["image"])
        np.testing.assert_allclose(grid.spacing, (1.0, 1.0, 3.0))
        label = sitk.GetArrayFromImage(sitk.ReadImage(entry["label"]))
        assert set(np.unique(label)) == {0, 1}


def test_unnamed_labels_get_their_value_as_name(abdomen_root, tmp_path):
    root = tmp_path / "unnamed"
    root.mkdir()
    for folder in ("imagesTr", "labelsTr"):
        (root / folder).symlink_to(abdomen_root / folder, target_is_directory=True)
    report = prepare_deepgrow(root, tmp_path / "dg", pixdim=[2, 2, 3], limit=1)
    organs = {e["organ"] for e in json.loads(report.datalist.read_text())["training"]}
    assert organs == {f"label_{value}" for value in ORGANS}


def test_synth_lists_and_writes_the_abdomen_phantom(tmp_path):
    runner = CliRunner()
    listed = runner.invoke(cli, ["synth", "--help"])
    assert listed.exit_code == 0 and "abdomen" in listed.output
    result = runner.invoke(
        cli, ["synth", "abdomen", "-o", str(tmp_path / "a"), "-n", "2", "--size", "32"]
    )
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "a" / "labelsTr").iterdir())) == 2
