"""Atomic checkpoint writes, safe loading, resume lookup and the ignite/MONAI savers."""

from __future__ import annotations

import collections
import os

import pytest
import torch

from clara_cli.engine import checkpoint as ckpt
from clara_cli.engine.checkpoint import (
    AtomicDiskSaver,
    checkpoint_name,
    load_checkpoint,
    save_checkpoint,
)
from clara_cli.engine.resume import find_resume_checkpoint as latest_checkpoint
from clara_cli.errors import ClaraError


class Arbitrary:
    """A class that only unsafe unpickling can rebuild."""

    def __init__(self) -> None:
        self.payload = "anything"


def _tiny_state(value: float) -> dict:
    net = torch.nn.Linear(3, 2)
    with torch.no_grad():
        net.weight.fill_(value)
    return {
        "model": net.state_dict(),
        "epoch": int(value),
        "iteration": 7,
        "config": {"epochs": 2, "lr": 1e-3},
    }


def test_round_trip_keeps_model_epoch_iteration_and_config(tmp_path):
    net = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    state = {
        "model": net.state_dict(),
        "optimizer": optimizer.state_dict(),
        "lr_scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "epoch": 3,
        "iteration": 42,
        "config": {"train": {"loss": {"name": "DiceLoss"}}, "path": "/x"},
    }

    path = save_checkpoint(state, tmp_path / "models" / "model.pt")
    loaded = load_checkpoint(path)

    assert loaded["epoch"] == 3 and loaded["iteration"] == 42
    assert loaded["config"] == {"train": {"loss": {"name": "DiceLoss"}}, "path": "/x"}
    assert torch.equal(loaded["model"]["weight"], net.weight.detach())
    assert set(loaded) == {
        "model",
        "optimizer",
        "lr_scheduler",
        "scaler",
        "epoch",
        "iteration",
        "config",
    }
    fresh = torch.optim.SGD(torch.nn.Linear(3, 2).parameters(), lr=0.1, momentum=0.9)
    fresh.load_state_dict(loaded["optimizer"])  # the momentum buffers came back


def test_a_crash_mid_write_keeps_the_previous_file_and_leaves_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "model.pt"
    save_checkpoint(_tiny_state(1.0), target)
    before = target.read_bytes()

    real_save = torch.save

    def save_half_then_die(obj, handle, *args, **kwargs):
        real_save(obj, handle, *args, **kwargs)
        handle.truncate(handle.tell() // 2)  # a partial file on disk, as if killed mid-write
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(torch, "save", save_half_then_die)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(_tiny_state(2.0), target)

    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
    assert load_checkpoint(target)["epoch"] == 1


def test_a_failed_write_is_reported_with_the_path(tmp_path, monkeypatch):
    def no_space(obj, handle, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", no_space)
    with pytest.raises(ClaraError, match=r"cannot write checkpoint .*model.pt: No space left"):
        save_checkpoint({"a": 1}, tmp_path / "model.pt")
    assert list(tmp_path.iterdir()) == []


def test_written_file_has_normal_permissions(tmp_path):
    path = save_checkpoint({"a": 1}, tmp_path / "model.pt")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_checkpoint_with_an_arbitrary_object_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "extra": Arbitrary()}, path)

    with pytest.raises(ClaraError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "refusing to load checkpoint" in message
    assert "Arbitrary" in message  # names the offending class


def test_a_truncated_checkpoint_is_reported_as_corrupt(tmp_path):
    path = tmp_path / "model.pt"
    save_checkpoint(_tiny_state(1.0), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(ClaraError, match="truncated or corrupt"):
        load_checkpoint(path)


def test_garbage_and_missing_files_are_clear_errors(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(ClaraError, match="is not a PyTorch checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(ClaraError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "absent.pt")


def test_a_non_dict_checkpoint_is_refused(tmp_path):
    torch.save(torch.ones(2), tmp_path / "t.pt")
    with pytest.raises(ClaraError, match="not a dictionary"):
        load_checkpoint(tmp_path / "t.pt")


def test_ordered_dicts_from_state_dict_load_fine(tmp_path):
    save_checkpoint({"model": collections.OrderedDict(w=torch.zeros(1))}, tmp_path / "m.pt")
    assert torch.equal(load_checkpoint(tmp_path / "m.pt")["model"]["w"], torch.zeros(1))


def test_latest_checkpoint_picks_the_highest_epoch(tmp_path):
    assert latest_checkpoint(tmp_path) is None
    assert latest_checkpoint(tmp_path / "missing") is None
    for epoch in (2, 10, 9):
        save_checkpoint({"epoch": epoch}, tmp_path / checkpoint_name(epoch))
    (tmp_path / ".checkpoint_epoch=99.pt.abc.tmp").write_bytes(b"")  # a stale temp file
    (tmp_path / "model.pt").write_bytes(b"")
    (tmp_path / "model_epoch=3.pt").write_bytes(b"")  # ignite's name for a single-item save
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoint_epoch=10.pt"
    assert checkpoint_name(4, prefix="net") == "net_checkpoint_epoch=4.pt"
    save_checkpoint({"epoch": 11}, tmp_path / checkpoint_name(11, prefix="net"))
    assert latest_checkpoint(tmp_path).name == "net_checkpoint_epoch=11.pt"


def test_atomic_disk_saver_with_ignite_checkpoint(tmp_path):
    from ignite.handlers import Checkpoint

    net = torch.nn.Linear(2, 2)
    handler = Checkpoint({"model": net}, AtomicDiskSaver(tmp_path / "out"), n_saved=1)
    handler._setup_checkpoint()
    saver = handler.save_handler
    saver({"model": net.state_dict()}, "model_1.pt")
    saver({"model": net.state_dict()}, "model_2.pt")
    saver.remove("model_1.pt")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model_2.pt"]
    assert set(load_checkpoint(tmp_path / "out" / "model_2.pt")["model"]) == {"weight", "bias"}

    fixed = AtomicDiskSaver(tmp_path / "fixed", filename="model.pt")
    fixed({"a": torch.ones(1)}, "ignite_chosen_name_3.pt")
    assert [p.name for p in (tmp_path / "fixed").iterdir()] == ["model.pt"]


@pytest.mark.slow
def test_monai_checkpoint_saver_made_atomic_writes_through_our_writer(tmp_path, monkeypatch):
    from ignite.engine import Engine, Events
    from monai.handlers import CheckpointSaver

    net = torch.nn.Linear(2, 2)
    saver = ckpt.make_checkpoint_saver_atomic(
        CheckpointSaver(
            save_dir=str(tmp_path),
            save_dict={"model": net, "optimizer": torch.optim.SGD(net.parameters(), lr=0.1)},
            save_final=True,
            final_filename="model_final.pt",
            save_interval=1,
            n_saved=1,
        )
    )
    calls = []
    real_atomic_write = ckpt.atomic_write
    monkeypatch.setattr(
        ckpt,
        "atomic_write",
        lambda path, write, **kw: calls.append(path.name) or real_atomic_write(path, write, **kw),
    )
    engine = Engine(lambda engine, batch: None)
    saver.attach(engine)
    engine.run([0], max_epochs=2)
    engine.fire_event(Events.COMPLETED)

    names = sorted(p.name for p in tmp_path.iterdir())
    assert "model_final.pt" in names
    assert "checkpoint_epoch=2.pt" in names and "checkpoint_epoch=1.pt" not in names
    assert "checkpoint_epoch=2.pt" in calls and "model_final.pt" in calls
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoint_epoch=2.pt"
    assert set(load_checkpoint(tmp_path / "checkpoint_epoch=2.pt")) == {"model", "optimizer"}


def test_a_fixed_name_is_never_removed_before_it_is_replaced(tmp_path):
    # ignite calls remove(old) and then writes the new file; with a fixed name (model.pt) a
    # kill in between must still leave the previous model on disk.
    fixed = AtomicDiskSaver(tmp_path, filename="model.pt")
    fixed({"a": torch.ones(1)}, "model_key_metric=0.5.pt")
    fixed.remove("model_key_metric=0.5.pt")
    assert load_checkpoint(tmp_path / "model.pt")["a"].item() == 1.0
