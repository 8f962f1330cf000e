"""`.pt2` export through torch.export, and loading it where validate/infer load models."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from monai.networks.nets import UNet

from clara_cli.engine.model_loading import load_network
from clara_cli.errors import ClaraError, ConfigError
from clara_cli.export.pt2 import ExportedModule, export_pt2, load_pt2

SHAPE = [1, 1, 32, 32, 32]


def _tiny_unet() -> torch.nn.Module:
    torch.manual_seed(0)
    return UNet(spatial_dims=3, in_channels=1, out_channels=2, channels=(4, 8), strides=(2,))


class DataDependentNet(torch.nn.Module):
    """Branches on a tensor's value: torch.export cannot capture that, TorchScript can."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(1, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if bool(y.sum() > 0):
            return y
        return -y


class FixedSizeNet(torch.nn.Module):
    """A dense head on flattened features: only the export's spatial size fits."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(1, 2, 3, padding=1)
        self.head = torch.nn.Linear(2 * 8 * 8 * 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).flatten(1))


@pytest.fixture(scope="module")
def unet_pt2(tmp_path_factory):
    """The tiny UNet, its export result and the file (exported once: ~5 s)."""
    net = _tiny_unet()
    path = tmp_path_factory.mktemp("pt2") / "models" / "model.pt2"
    return net, export_pt2(net, SHAPE, path)


def test_unet_exports_with_dynamic_batch_and_spatial_axes(unet_pt2):
    net, result = unet_pt2
    assert (result.format, result.method) == ("pt2", "torch.export")
    assert result.max_abs_diff <= result.parity.bound
    assert result.parity.label_agreement == 1.0
    assert result.dynamic_axes == {0: "batch", 2: "spatial_0", 3: "spatial_1", 4: "spatial_2"}
    assert [p.name for p in result.path.parent.iterdir()] == ["model.pt2"]  # no temp left
    # A sliding-window border: another batch and other spatial sizes than the export's.
    loaded = load_pt2(result.path)
    inputs = torch.randn(3, 1, 48, 32, 16)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(inputs), net(inputs), rtol=1e-4, atol=1e-5)


def test_loaded_program_accepts_eval_and_refuses_training(unet_pt2):
    loaded = load_pt2(unet_pt2[1].path)
    assert isinstance(loaded, ExportedModule)
    assert loaded.eval() is loaded and not loaded.training
    with pytest.raises(ClaraError, match="for inference only"):
        loaded.train()


def test_mismatch_fails_and_writes_nothing(noisy_net, tmp_path):
    target = tmp_path / "model.pt2"
    with pytest.raises(ClaraError, match="pt2 export to .* differs from the eager model"):
        export_pt2(noisy_net, [1, 1, 8, 8, 8], target)
    assert list(tmp_path.iterdir()) == []


def test_uncapturable_network_says_to_use_torchscript(tmp_path):
    with pytest.raises(ClaraError, match="export to TorchScript instead"):
        export_pt2(DataDependentNet(), [1, 1, 8, 8, 8], tmp_path / "model.pt2")
    assert list(tmp_path.iterdir()) == []


def test_a_fixed_spatial_size_is_kept_with_a_note_or_refused(tmp_path):
    result = export_pt2(FixedSizeNet(), [1, 1, 8, 8, 8], tmp_path / "fixed.pt2")
    assert 2 not in result.dynamic_axes
    assert any("re-exported with fewer dynamic axes" in note for note in result.notes)
    assert load_pt2(result.path)(torch.randn(1, 1, 8, 8, 8)).shape == (1, 3)
    # clara export's default asks for dynamic spatial axes: refused, nothing written.
    target = tmp_path / "required.pt2"
    with pytest.raises(ClaraError, match="does not keep the spatial size dynamic"):
        export_pt2(FixedSizeNet(), [1, 1, 8, 8, 8], target, require_dynamic_spatial=True)
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fixed.pt2"]


def test_not_a_program_is_a_config_error(tmp_path):
    bogus = tmp_path / "model.pt2"
    bogus.write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="is not a torch.export program"):
        load_pt2(bogus)
    with pytest.raises(ConfigError, match="pt2 model not found"):
        load_pt2(tmp_path / "missing.pt2")


def _session(variables: dict[str, str]) -> SimpleNamespace:
    return SimpleNamespace(dist=SimpleNamespace(device=torch.device("cpu")), var=variables.get)


def test_config_loaders_find_the_pt2_export(unet_pt2, tmp_path):
    pt2 = unet_pt2[1].path
    session = _session({})
    # Named directly, by the pt2 loader key or by a ts_path with the .pt2 suffix.
    assert isinstance(load_network([{"pt2_path": str(pt2)}], session, "t"), ExportedModule)
    assert isinstance(load_network({"ts_path": str(pt2)}, session, "t"), ExportedModule)
    # MMAR_TORCHSCRIPT's file was never written (pt2 is the default export): its .pt2 sibling.
    missing_ts = pt2.with_suffix(".ts")
    assert isinstance(load_network({"ts_path": str(missing_ts)}, session, "t"), ExportedModule)
    # MMAR_PT2 says where the pt2 export is.
    elsewhere = _session({"MMAR_PT2": str(pt2)})
    ts_elsewhere = tmp_path / "model.ts"
    assert isinstance(load_network({"ts_path": str(ts_elsewhere)}, elsewhere, "t"), ExportedModule)
    # Neither file: the TorchScript error, as before.
    with pytest.raises(ConfigError, match="TorchScript model not found"):
        load_network({"ts_path": str(ts_elsewhere)}, session, "t")


def test_an_existing_torchscript_file_is_still_preferred(unet_pt2):
    net = unet_pt2[0]
    ts = unet_pt2[1].path.with_name("model.ts")
    torch.jit.save(torch.jit.script(net), str(ts))
    try:
        loaded = load_network({"ts_path": str(ts)}, _session({}), "t")
        assert isinstance(loaded, torch.jit.ScriptModule)
    finally:
        ts.unlink()


def test_pt2_path_is_relative_to_the_torchscript_path():
    from clara_cli.engine.model_loading import pt2_path

    assert pt2_path(_session({}), Path("/m/models/model.ts")) == Path("/m/models/model.pt2")
    assert pt2_path(_session({"MMAR_PT2": "/x/y.pt2"}), Path("/m/model.ts")) == Path("/x/y.pt2")
