"""The DeepGrow archives through clara: NVIDIA's real Clara 4.0 deepgrow_2D archive builds (its
Clara-internal paths shimmed), and ours exports its 3-channel network with the parity check."""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

import pytest
import torch

from clara_cli.families import load_families
from clara_cli.workflows.session import RunRequest, open_session

REPO = Path(__file__).resolve().parents[2]
MMAR = REPO / "mmars" / "clara_pt_deepgrow_3d_annotation"
REAL_2D = REPO.parent / "shared" / "conformance" / "clara-examples" / "deepgrow_2D"
if not REAL_2D.is_dir():  # worktrees live beside main; CI has shared/ beside the clone
    REAL_2D = Path("/work/shared/conformance/clara-examples/deepgrow_2D")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def deepgrow_2d_data(tmp_path_factory):
    from clara_cli.data.deepgrow import prepare_deepgrow
    from clara_cli.families.deepgrow.phantom import AbdomenOptions, synthesize_abdomen

    root = tmp_path_factory.mktemp("dg2d")
    synthesize_abdomen(root / "raw", num_cases=2, options=AbdomenOptions(in_plane_size=32))
    return prepare_deepgrow(root / "raw", root / "dg", dimensions=2, pixdim=[2, 2]).datalist


@pytest.mark.skipif(not REAL_2D.is_dir(), reason="the conformance corpus is not here")
def test_real_clara_40_deepgrow_2d_archive_builds(deepgrow_2d_data, tmp_path):
    from monai.apps.deepgrow.interaction import Interaction
    from monai.apps.deepgrow.transforms import FindDiscrepancyRegionsd

    from clara_cli.families.deepgrow.stats_handler import DeepgrowStatsHandler
    from clara_cli.workflows.sections import build_sections

    load_families()  # the family registers DeepgrowStatsHandler
    overrides = {
        "DATA_ROOT": "",
        "DATASET_JSON": str(deepgrow_2d_data),
        "MMAR_CKPT_DIR": str(tmp_path / "models"),
    }
    request = RunRequest(REAL_2D, "config/config_train.json", overrides=overrides, device="cpu")
    session = open_session(request)
    train, validate = build_sections(session, False)
    trainer = train.get("trainer")
    # The config's "iteration" (Clara's ClickInteraction path), under clara's non-finite guard.
    interaction = inspect.unwrap(trainer._process_function)
    assert isinstance(interaction, Interaction) and interaction.max_interactions == 15
    steps = interaction.transforms.transforms
    assert any(isinstance(t, FindDiscrepancyRegionsd) for t in steps)  # built without `batched`
    evaluator = validate.get("evaluator")  # 4.0: its `iteration` is wired implicitly too
    assert isinstance(inspect.unwrap(evaluator._process_function), Interaction)
    assert (
        evaluator._process_function.max_interactions == 5 and not evaluator._process_function.train
    )
    handlers = validate.get("handlers")
    assert any(isinstance(h, DeepgrowStatsHandler) for h in handlers)
    assert train.get("model").__class__.__name__ == "BasicUNet"


def test_export_of_the_three_channel_network(tmp_path):
    from monai.networks.nets import BasicUNet

    from clara_cli.mmar.loader import load_mmar_config
    from clara_cli.mmar.variables import substitute
    from clara_cli.workflows.export import export_mmar

    mmar = tmp_path / "dg3d"
    shutil.copytree(MMAR, mmar, ignore=shutil.ignore_patterns("models", "eval", "data"))
    sets = {"patch_size": [16, 32, 32], "features": [4, 8, 8, 16, 16, 4]}
    loaded = load_mmar_config(mmar, "config/config_train.json", overrides=sets)
    train_conf = substitute(dict(loaded.config), loaded.variables, "", "test")
    network = BasicUNet(spatial_dims=3, in_channels=3, out_channels=1, features=sets["features"])
    (mmar / "models").mkdir()
    torch.save(
        {"model": network.state_dict(), "train_conf": train_conf}, mmar / "models" / "model.pt"
    )
    request = RunRequest(mmar, "config/config_train.json", overrides=sets, device="cpu")
    (result,) = export_mmar(request, ["torchscript"])
    assert list(result.input_shape) == [1, 3, 16, 32, 32]  # image + 2 guidance maps, patch_size
    assert result.max_abs_diff <= result.tolerance
    assert (mmar / "models" / "model.ts").is_file()
