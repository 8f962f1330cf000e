"""Clicks for DeepGrow inference: parsing, the built-in workflow's refusal, and the geometry
from input voxels to the model's array and back onto the input grid."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from click.testing import CliRunner

from clara_cli.cli.main import cli
from clara_cli.errors import DataError
from clara_cli.io.points import index_to_physical, physical_to_index
from clara_cli.io.prediction import read_grid
from clara_cli.workflows.prompts import PointPrompts, PromptSet, load_clicks, parse_point

REPO = Path(__file__).resolve().parents[2]
MMAR = REPO / "mmars" / "clara_pt_deepgrow_3d_annotation"
SPLEEN = REPO / "mmars" / "clara_pt_spleen_ct_segmentation"
PATCH = [16, 32, 32]


def test_parse_point_and_clicks_file(tmp_path):
    assert parse_point("10,20,3") == (10.0, 20.0, 3.0)
    assert parse_point("-1.5, 2,30.25") == (-1.5, 2.0, 30.25)
    for bad in ("1,2", "a,b,c", "1,2,nan"):
        with pytest.raises(DataError, match="X,Y,Z"):
            parse_point(bad)
    path = tmp_path / "clicks.json"
    path.write_text(json.dumps({"c1": {"fg": [[1, 2, 3]], "bg": [[4, 5, 6]]}, "c2": {"fg": []}}))
    clicks = load_clicks(path, "mm")
    assert clicks.by_case["c1"] == PointPrompts(((1, 2, 3),), ((4, 5, 6),), "mm", f"{path}: c1")
    path.write_text(json.dumps({"c1": {"fg": [[1, 2]]}}))
    with pytest.raises(DataError, match=r"c1\.fg\[0\]: expected \[x, y, z\]"):
        load_clicks(path)
    path.write_text(json.dumps({"c1": {"foreground": [[1, 2, 3]]}}))
    with pytest.raises(DataError, match='expected {"fg"'):
        load_clicks(path)


def test_prompts_must_match_the_inputs():
    single = PromptSet(single=PointPrompts(((1, 2, 3),)))
    assert single.for_cases(["a"]) == {"a": single.single}
    with pytest.raises(DataError, match="clicks of one image, but the input holds 2"):
        single.for_cases(["a", "b"])
    per_case = PromptSet(by_case={"a": PointPrompts(((1, 2, 3),)), "z": PointPrompts()}, source="f")
    with pytest.raises(DataError, match="not among the inputs: z.*has no clicks for: b"):
        per_case.for_cases(["a", "b"])


def test_points_match_simpleitk_on_a_flipped_anisotropic_grid(ct_pair):
    image, _ = ct_pair
    grid = read_grid_from(image)
    for index in ([0, 0, 0], [3, 7, 11], [23.5, 0.25, 15]):
        expected = image.TransformContinuousIndexToPhysicalPoint([float(v) for v in index])
        np.testing.assert_allclose(index_to_physical(grid, index), expected, atol=1e-9)
        np.testing.assert_allclose(physical_to_index(grid, expected), index, atol=1e-9)


def read_grid_from(image):
    from clara_cli.io.prediction import Grid

    return Grid(image.GetSize(), image.GetSpacing(), image.GetOrigin(), image.GetDirection())


def test_cli_checks_click_options(tmp_path):
    runner = CliRunner()
    base = ["infer", "-m", str(SPLEEN), "-i", str(SPLEEN / "config" / "environment.json")]
    result = runner.invoke(cli, [*base, "--bg", "1,2,3"])
    assert result.exit_code == 2 and "--bg needs at least one --fg" in result.output
    result = runner.invoke(cli, [*base, "--fg", "1,2"])
    assert result.exit_code == 2 and "expected X,Y,Z" in result.output
    clicks = tmp_path / "c.json"
    clicks.write_text("{}")
    result = runner.invoke(cli, [*base, "--fg", "1,2,3", "--clicks", str(clicks)])
    assert result.exit_code == 2 and "not both" in result.output


def test_a_model_without_clicks_refuses_them(tmp_path, ct_pair):
    image = tmp_path / "scan.nii.gz"
    sitk.WriteImage(ct_pair[0], str(image))
    result = CliRunner().invoke(
        cli, ["infer", "-m", str(SPLEEN), "-i", str(image), "--fg", "-3.5,2,7", "--mm"]
    )
    assert result.exit_code == 1
    assert "this MMAR's inference takes no clicks (--fg/--bg)" in result.output


# ------------------------------------------------------------------ geometry through the config
def _pre_transforms(patch=PATCH):
    """The inference config's pre-transforms, built as `clara infer` builds them."""
    from clara_cli.mmar.loader import load_mmar_config
    from clara_cli.mmar.resolver import Section
    from clara_cli.mmar.variables import substitute

    mmar = load_mmar_config(MMAR, "config/config_inference.json", overrides={"patch_size": patch})
    conf = substitute(dict(mmar.config), mmar.variables, "", str(mmar.config_file))
    section = Section("infer", {"pre_transforms": conf["pre_transforms"]}, "test", _runtime(), conf)
    return section.get("pre_transforms")


def _runtime():
    from clara_cli.mmar.resolver import Runtime

    return Runtime()


@pytest.fixture
def marked_scan(tmp_path, make_ct_pair):
    """A flipped, anisotropic CT (0.8 x 0.8 x 2.5 mm) with one bright voxel at (17, 6, 11)."""
    image, _ = make_ct_pair(size=(40, 36, 24))
    array = sitk.GetArrayFromImage(image)
    array[:] = 0
    array[11, 6, 17] = 3000  # (z, y, x)
    marked = sitk.GetImageFromArray(array)
    marked.CopyInformation(image)
    path = tmp_path / "marked.nii.gz"
    sitk.WriteImage(marked, str(path))
    return path, (17, 6, 11)


def test_click_lands_where_the_clicked_voxel_lands(marked_scan):
    path, click = marked_scan
    grid = read_grid(path)
    mm = index_to_physical(grid, click).tolist()
    data = _pre_transforms()({"image": str(path), "foreground": [mm], "background": []})
    image = np.asarray(data["image"])
    assert image.shape == (3, *PATCH)  # image + foreground + background guidance
    # where the bright voxel ended up after resampling to 1x1x3 mm, reorientation and crop
    bright = np.unravel_index(np.argmax(image[0]), image.shape[1:])
    (placed,), background = data["guidance"]
    assert background == []
    assert np.abs(np.subtract(placed, bright)).max() <= 1
    assert np.unravel_index(np.argmax(image[1]), image.shape[1:]) == tuple(placed)


def test_mask_comes_back_on_the_input_grid_around_the_click(marked_scan, tmp_path):
    """End to end with a stand-in network whose output is the foreground guidance."""
    from monai.inferers import SimpleInferer
    from monai.transforms import Activationsd

    from clara_cli.engine.inference import Member, Pipeline
    from clara_cli.families.deepgrow.infer import run_click_case

    class GuidanceEcho(torch.nn.Module):
        def forward(self, x):
            return (x[:, 1:2] - 0.5) * 20.0  # positive near the click (Gaussian > 0.5)

    pipeline = Pipeline(
        [Member(GuidanceEcho(), SimpleInferer())],
        _pre_transforms(),
        Activationsd(keys="pred", sigmoid=True),
        torch.device("cpu"),
    )
    path, click = marked_scan
    for name, prompts in (
        ("voxel", PointPrompts((click,))),
        ("mm", PointPrompts((tuple(index_to_physical(read_grid(path), click)),), space="mm")),
    ):
        result = run_click_case(pipeline, name, str(path), str(path), prompts, tmp_path, False)
        assert result.error is None, result.error
        seg = sitk.ReadImage(str(result.segmentation))
        assert read_grid(result.segmentation) == read_grid(path)
        mask = sitk.GetArrayFromImage(seg)
        assert mask[click[2], click[1], click[0]] == 1
        z, y, x = np.nonzero(mask)
        # a blob of a few mm around the click, in every direction of the flipped grid
        assert 2 <= len(z) < 400
        assert abs(np.mean(x) - click[0]) < 1.5 and abs(np.mean(y) - click[1]) < 1.5
        assert abs(np.mean(z) - click[2]) < 1.0


def test_click_outside_the_image_names_the_click(marked_scan, tmp_path):
    from clara_cli.families.deepgrow.infer import clicks_in_mm

    path, _ = marked_scan
    with pytest.raises(DataError, match=r"click --bg 40,2,3 lies outside marked.nii.gz"):
        clicks_in_mm(PointPrompts(((1, 2, 3),), ((40, 2, 3),)), str(path))
    with pytest.raises(DataError, match="no foreground click"):
        clicks_in_mm(PointPrompts((), ((1, 2, 3),)), str(path))
    far = tuple(index_to_physical(read_grid(path), (10, 10, -3)))
    with pytest.raises(DataError, match=r"--fg .* mm lies outside .*voxel 10.0, 10.0, -3.0"):
        clicks_in_mm(PointPrompts((far,), space="mm"), str(path))
