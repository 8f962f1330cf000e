"""Device placement: engines on the run's device, `cuda` on a CPU run, modules, checkpoints."""

from __future__ import annotations

import logging

import torch
from monai import engines, handlers, inferers


def test_engines_run_on_the_rank_device_whatever_the_config_says(kit):
    for engine in (engines.SupervisedTrainer, engines.SupervisedEvaluator):
        ctx = kit.context(engine, {"device": "cuda:3"}, device=torch.device("cpu"))
        assert kit.before("device.engine_device", ctx)["device"] == torch.device("cpu")


def test_cuda_on_a_cpu_run_falls_back_to_cpu_with_one_warning(kit, caplog):
    ctx = kit.context(inferers.SlidingWindowInferer, {"roi_size": 8, "device": "cuda"})
    ctx.where = "config.json: validate.inferer"
    with caplog.at_level(logging.WARNING, logger="clara"):
        args = kit.before("device.cuda_fallback", ctx)
    assert args["device"] == "cpu"
    assert "SlidingWindowInferer: device 'cuda' is not available here; using cpu" in caplog.text


def test_cuda_is_kept_on_a_gpu_run_and_other_devices_are_kept(kit):
    assert not kit.applies(
        "device.cuda_fallback", kit.context(object, {"device": "cuda"}, device="cuda:0")
    )
    assert not kit.applies("device.cuda_fallback", kit.context(object, {"device": "cpu"}))
    assert not kit.applies("device.cuda_fallback", kit.context(object, {}))


def test_a_checkpoint_loader_maps_cuda_0_to_the_rank_device(kit):
    ctx = kit.context(
        handlers.CheckpointLoader, {"load_path": "m.pt", "load_dict": {}}, device="cuda:1"
    )
    assert kit.before("device.map_location", ctx)["map_location"] == {"cuda:0": "cuda:1"}
    explicit = {"load_path": "m.pt", "load_dict": {}, "map_location": "cpu"}
    ctx = kit.context(handlers.CheckpointLoader, explicit)
    assert kit.before("device.map_location", ctx)["map_location"] == "cpu"
    # A saver loads nothing: no map_location to give.
    ctx = kit.context(handlers.CheckpointSaver, {"save_dir": "m", "save_dict": {}})
    assert "map_location" not in kit.before("device.map_location", ctx)


def test_built_modules_move_to_the_device_and_losses_do_not(kit, monkeypatch):
    moved = []
    monkeypatch.setattr(torch.nn.Module, "to", lambda self, device: moved.append(device) or self)
    net = torch.nn.Linear(2, 2)
    assert kit.after("device.module_to_device", kit.after_context(net, device="cuda:1")) is net
    assert moved == ["cuda:1"]
    assert not kit.applies("device.module_to_device", kit.after_context(torch.nn.MSELoss()))
    assert not kit.applies("device.module_to_device", kit.after_context(object()))
