"""`clara check` lists the shims a run applies while building (meta dicts, MONAI 0.x lambdas,
PersistentDataset's cache folder), beside those found while resolving, and still builds
nothing: here on a Clara 4.1-style validation config with `*_meta_dict` keys."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from clara_cli.cli.main import cli
from clara_cli.families import load_families
from clara_cli.workflows.check import check_archive

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "mmar_41_meta"


def _shims(stand_ins) -> dict[str, list[str]]:
    load_families()
    report = check_archive(FIXTURE, ["config/config_validation.json"], overrides=stand_ins)
    assert report.ok, report.problems
    resolved = report.configs[0].resolved
    return {c.key_path: c.shims for c in resolved.components()}


def test_meta_dict_shims_applied_at_build_time_are_listed(stand_ins):
    shims = _shims(stand_ins)
    assert shims["pre_transforms[6]"] == [  # ToTensord, last pre-transform
        "ToTensord keeps the MetaTensor and its transform trace through its inverse "
        "(MONAI 0.x kept them in '*_meta_dict'), so Invertd can undo the pre-transforms"
    ]
    invertd = shims["post_transforms[1]"]
    assert len(invertd) == 2
    assert invertd[0].startswith("Invertd also inverts a plain tensor")
    assert invertd[1] == (
        "Invertd: meta_keys 'pred_meta_dict', 'label_meta_dict'; orig_meta_keys "
        "'image_meta_dict': MONAI 0.x meta dicts; the metadata travels with each MetaTensor "
        "and is read from there"
    )
    assert shims["post_transforms[3]"] == [  # SaveImaged
        "SaveImaged: meta_keys 'pred_meta_dict': MONAI 0.x meta dicts; the metadata travels "
        "with each MetaTensor and is read from there"
    ]
    assert shims["handlers[2]"] == [  # MetricsSaver's from_engine(['image_meta_dict'])
        "MetricsSaver: batch_transform reads 'image_meta_dict' (MONAI 0.x meta dicts); given "
        "the metadata of the 'image' MetaTensor"
    ]
    # A resolve-time shim is still there, once.
    assert shims["post_transforms[4]"] == [
        "AsDiscreted: to_onehot=true + n_classes is MONAI 0.x; using to_onehot=[2, 2]"
    ]
    # Components no shim touches list none.
    assert shims["pre_transforms[0]"] == [] and shims["post_transforms[2]"] == []


def test_the_listing_builds_no_module_and_reads_no_image(stand_ins, monkeypatch):
    import torch
    from monai.transforms import LoadImaged

    built: list[str] = []
    original = torch.nn.Module.__init__

    def counting(self, *args, **kwargs):
        built.append(type(self).__name__)
        original(self, *args, **kwargs)

    def no_reading(self, *args, **kwargs):
        raise AssertionError("clara check read an image")

    monkeypatch.setattr(torch.nn.Module, "__init__", counting)
    monkeypatch.setattr(LoadImaged, "__call__", no_reading)
    monkeypatch.setattr(LoadImaged, "__init__", no_reading)
    assert _shims(stand_ins)["handlers[2]"]
    assert built == []


def test_the_cli_prints_each_shim_under_its_component(stand_ins):
    sets = [f"{k}={v}" for k, v in stand_ins.items()]
    args = ["check", "-m", str(FIXTURE), "-c", "config/config_validation.json", "--set", *sets]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    saver = next(i for i, line in enumerate(lines) if "post_transforms[3]: " in line)
    assert "SaveImaged(" in lines[saver]
    assert lines[saver + 1].strip().startswith("shim: SaveImaged: meta_keys 'pred_meta_dict'")
