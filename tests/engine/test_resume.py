"""Which checkpoint --resume picks and what it restores (no training run here)."""

from __future__ import annotations

import logging

import pytest
import torch
from ignite.engine import Engine

from clara_cli.engine.checkpoint import save_checkpoint
from clara_cli.engine.resume import (
    ResumeCheckpointer,
    TrainingParts,
    find_resume_checkpoint,
    remove_stale_temporaries,
    restore,
)
from clara_cli.errors import ConfigError


def _parts(epoch_length: int = 5) -> TrainingParts:
    trainer = Engine(lambda engine, batch: None)
    trainer.state.epoch_length = epoch_length
    trainer.state.max_epochs = 10
    model = torch.nn.Linear(3, 2)
    trainer.network = model
    trainer.scaler = None
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    return TrainingParts(trainer=trainer, model=model, optimizer=optimizer)


def test_the_newest_epoch_wins_and_ours_wins_a_tie(tmp_path):
    assert find_resume_checkpoint(tmp_path / "missing") is None
    for name in ("checkpoint_epoch=4.pt", "resume_checkpoint_epoch=4.pt", "checkpoint_epoch=2.pt"):
        save_checkpoint({"epoch": 0}, tmp_path / name)
    (tmp_path / ".resume_checkpoint_epoch=9.pt.x1y2.tmp").write_bytes(b"partial")
    assert find_resume_checkpoint(tmp_path).name == "resume_checkpoint_epoch=4.pt"


def test_a_checkpoint_from_the_configs_saver_resumes_at_the_epoch_in_its_name(tmp_path):
    source = _parts()
    with torch.no_grad():
        source.model.weight.fill_(0.5)
    path = save_checkpoint({"model": source.model.state_dict()}, tmp_path / "checkpoint_epoch=4.pt")

    parts = _parts(epoch_length=5)
    assert restore(parts, path, "cpu") == 4
    assert (parts.trainer.state.epoch, parts.trainer.state.iteration) == (4, 20)
    assert parts.trainer.state.max_epochs == 10  # the configured one, not the saved one
    assert torch.equal(parts.model.weight, source.model.weight)


def test_our_checkpoint_restores_the_counters_and_a_new_epoch_length_is_explained(tmp_path, caplog):
    source = _parts(epoch_length=5)
    source.trainer.state.epoch, source.trainer.state.iteration = 3, 15
    writer = ResumeCheckpointer(source, tmp_path)
    writer(source.trainer)
    path = tmp_path / "resume_checkpoint_epoch=3.pt"

    same = _parts(epoch_length=5)
    restore(same, path, "cpu")
    assert (same.trainer.state.epoch, same.trainer.state.iteration) == (3, 15)

    # e.g. resumed with twice the processes: each rank now has half the iterations per epoch
    halved = _parts(epoch_length=3)
    with caplog.at_level(logging.WARNING, logger="clara"):
        restore(halved, path, "cpu")
    assert (halved.trainer.state.epoch, halved.trainer.state.iteration) == (3, 9)
    assert "an epoch now has 3 iterations instead of 5" in caplog.text


def test_weights_saved_from_a_ddp_wrapper_load_into_the_plain_network(tmp_path):
    source = _parts()
    wrapped_state = {f"module.{k}": v for k, v in source.model.state_dict().items()}
    path = save_checkpoint({"model": wrapped_state, "epoch": 1}, tmp_path / "checkpoint_epoch=1.pt")
    parts = _parts()
    restore(parts, path, "cpu")
    assert torch.equal(parts.model.bias, source.model.bias)


def test_weights_of_another_network_are_refused_with_the_reason(tmp_path):
    other = torch.nn.Linear(5, 2)
    path = save_checkpoint({"model": other.state_dict()}, tmp_path / "checkpoint_epoch=1.pt")
    with pytest.raises(ConfigError, match="do not fit the configured network"):
        restore(_parts(), path, "cpu")


def test_only_the_temporaries_of_killed_writes_are_removed(tmp_path):
    keep = ["model.pt", "resume_checkpoint_epoch=2.pt", ".hidden_notes", "events.out.tfevents.1"]
    stale = [".model.pt.abc123.tmp", ".resume_checkpoint_epoch=3.pt.k9z_1.tmp"]
    for name in keep + stale:
        (tmp_path / name).write_bytes(b"x")
    removed = remove_stale_temporaries(tmp_path)
    assert sorted(p.name for p in removed) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)
