"""Training in one process: determinism, resume checkpoints, --resume, finetuning, safe loading."""

from __future__ import annotations

import logging
import pickle

import pytest
import torch

from clara_cli.engine.checkpoint import load_checkpoint
from clara_cli.errors import ClaraError, ConfigError
from clara_cli.workflows.session import RunRequest
from clara_cli.workflows.train import TrainOptions, train


def _train(mmar, resume=False, **overrides):
    request = RunRequest(mmar, "config/config_train.json", overrides=overrides, device="cpu")
    return train(request, TrainOptions(resume=resume))


def _losses(result):
    """Mean loss per epoch (restored from the checkpoint for epochs before a resume)."""
    return [row["loss"] for row in result.history]


@pytest.mark.slow
def test_same_seed_same_losses_other_seed_other_losses(tiny_mmar, tmp_path):
    quick = {"epochs": 2, "num_interval_per_valid": 2}
    first = _train(tiny_mmar, MMAR_CKPT_DIR=str(tmp_path / "a"), **quick)
    second = _train(tiny_mmar, MMAR_CKPT_DIR=str(tmp_path / "b"), **quick)
    other = _train(
        tiny_mmar, MMAR_CKPT_DIR=str(tmp_path / "c"), determinism={"random_seed": 1}, **quick
    )

    assert len(first.losses) == 6  # 2 epochs x 3 iterations
    assert first.losses == second.losses  # bit-identical
    assert first.history[-1]["val_mean_dice"] == second.history[-1]["val_mean_dice"]
    assert other.losses != first.losses
    assert torch.are_deterministic_algorithms_enabled()


@pytest.mark.slow
def test_a_run_keeps_one_complete_resume_checkpoint(tiny_mmar):
    result = _train(tiny_mmar)

    models = tiny_mmar / "models"
    resume_files = sorted(p.name for p in models.glob("resume_checkpoint_epoch=*.pt"))
    assert resume_files == ["resume_checkpoint_epoch=3.pt"]  # older epochs were removed
    assert not [p for p in models.iterdir() if p.name.startswith(".")]  # no temporaries
    state = load_checkpoint(models / "resume_checkpoint_epoch=3.pt")  # weights_only=True
    assert {"model", "optimizer", "lr_scheduler", "train_conf", "history"} <= set(state)
    assert (state["epoch"], state["iteration"], state["epoch_length"]) == (3, 9, 3)
    assert state["train_conf"]["train"]["model"]["name"] == "UNet"
    assert state["evaluator"]["best_metric_epoch"] == result.best_epoch
    # train saver (final model only, nothing to track), validate saver (model.pt, best Dice)
    assert [bool(s) for s in state["key_metric_savers"]] == [False, True]
    assert state["key_metric_savers"][1]["_saved"][0][0] == pytest.approx(result.best_metric)
    assert state["lr_scheduler"]["last_epoch"] == 3
    assert set(load_checkpoint(models / "model_final.pt")) >= {"model", "optimizer"}
    assert (result.epochs_run, result.iterations, result.resumed_from) == (3, 9, None)


@pytest.mark.slow
def test_resume_continues_the_counters_and_can_extend_a_finished_run(tiny_mmar, caplog):
    first = _train(tiny_mmar, epochs=2)
    saved = load_checkpoint(tiny_mmar / "models" / "resume_checkpoint_epoch=2.pt")

    with caplog.at_level(logging.INFO, logger="clara"):
        resumed = _train(tiny_mmar, resume=True, epochs=3)

    assert "resuming from resume_checkpoint_epoch=2.pt (epoch 2 done)" in caplog.text
    assert (resumed.resumed_from, resumed.epochs_run, resumed.iterations) == (2, 3, 9)
    # The first two epochs come from the checkpoint, the third was trained now.
    assert _losses(resumed)[:2] == _losses(first)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    final = load_checkpoint(tiny_mmar / "models" / "resume_checkpoint_epoch=3.pt")
    assert final["lr_scheduler"]["last_epoch"] == saved["lr_scheduler"]["last_epoch"] + 1
    assert final["optimizer"]["state"][0]["step"] > saved["optimizer"]["state"][0]["step"]


@pytest.mark.slow
def test_resume_of_a_finished_run_trains_nothing(tiny_mmar, caplog):
    _train(tiny_mmar, epochs=1)
    before = load_checkpoint(tiny_mmar / "models" / "model_final.pt")["model"]
    with caplog.at_level(logging.INFO, logger="clara"):
        again = _train(tiny_mmar, resume=True, epochs=1)
    assert again.epochs_run == 1 and again.resumed_from == 1
    assert "nothing to do" in caplog.text
    after = load_checkpoint(tiny_mmar / "models" / "resume_checkpoint_epoch=1.pt")["model"]
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.slow
def test_without_resume_a_second_run_starts_over(tiny_mmar, caplog):
    _train(tiny_mmar, epochs=1)
    with caplog.at_level(logging.INFO, logger="clara"):
        again = _train(tiny_mmar, epochs=1)
    assert again.resumed_from is None and again.epochs_run == 1 and again.iterations == 3
    assert "resuming" not in caplog.text and "nothing to do" not in caplog.text


@pytest.mark.slow
def test_resume_without_a_checkpoint_warns_and_starts_over(tiny_mmar, caplog):
    with caplog.at_level(logging.WARNING, logger="clara"):
        result = _train(tiny_mmar, resume=True, epochs=1)
    assert "no checkpoint in" in caplog.text
    assert result.resumed_from is None and result.epochs_run == 1


@pytest.mark.slow
def test_finetune_starts_from_mmar_ckpt_weights_only(tiny_mmar, tmp_path):
    _train(tiny_mmar, epochs=1, MMAR_CKPT_DIR=str(tmp_path / "pre"))
    pretrained = load_checkpoint(tmp_path / "pre" / "model_final.pt")["model"]

    # With a zero learning rate the weights stay where training started.
    frozen = {"epochs": 1, "learning_rate": 0.0}
    _train(
        tiny_mmar,
        dont_load_ckpt_model=False,
        MMAR_CKPT=str(tmp_path / "pre" / "model_final.pt"),
        MMAR_CKPT_DIR=str(tmp_path / "fine"),
        **frozen,
    )
    _train(tiny_mmar, MMAR_CKPT_DIR=str(tmp_path / "scratch"), **frozen)

    finetuned = load_checkpoint(tmp_path / "fine" / "model_final.pt")
    scratch = load_checkpoint(tmp_path / "scratch" / "model_final.pt")["model"]
    assert all(torch.equal(finetuned["model"][k], pretrained[k]) for k in pretrained)
    assert not all(torch.equal(scratch[k], pretrained[k]) for k in pretrained)


def test_finetune_from_a_missing_checkpoint_says_what_to_do(tiny_mmar, tmp_path):
    with pytest.raises(ConfigError, match="MMAR_CKPT not found") as info:
        _train(tiny_mmar, dont_load_ckpt_model=False, MMAR_CKPT=str(tmp_path / "none.pt"))
    assert "dont_load_ckpt_model=true" in str(info.value)


class _RunsCode:
    def __reduce__(self):
        return (exec, ("open(__import__('os').environ['CLARA_PWNED'], 'w').close()",))


def test_a_checkpoint_that_would_run_code_is_refused(tiny_mmar, tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("CLARA_PWNED", str(marker))
    models = tiny_mmar / "models"
    models.mkdir()
    with open(models / "resume_checkpoint_epoch=9.pt", "wb") as handle:
        torch.save({"model": {}, "payload": _RunsCode()}, handle, pickle_module=pickle)

    with pytest.raises(ClaraError, match="refusing to load checkpoint"):
        _train(tiny_mmar, resume=True)
    assert not marker.exists()


@pytest.mark.slow
def test_amp_on_cpu_trains_in_bf16_and_records_it(tiny_mmar):
    from clara_cli.engine.amp import cpu_has_native_bf16

    result = _train(tiny_mmar, epochs=1, use_amp=True)  # Clara 3's name for `amp`
    state = load_checkpoint(tiny_mmar / "models" / "resume_checkpoint_epoch=1.pt")
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in result.history)
    # bf16 autocast where the CPU has native bf16, else fp32 (with one notice).
    assert ("cpu_bf16" in state) == cpu_has_native_bf16()


def test_checkpoint_interval_must_be_a_whole_number(tiny_mmar):
    # Given with --set, the value is refused before the run starts (an OverrideError).
    with pytest.raises(ConfigError, match="checkpoint_interval=often: expected a whole number"):
        _train(tiny_mmar, checkpoint_interval="often")
    config = tiny_mmar / "config" / "config_train.json"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('"epochs": 3,', '"epochs": 3, "checkpoint_interval": -2,'))
    with pytest.raises(ConfigError, match="checkpoint_interval must be a whole number"):
        _train(tiny_mmar)


@pytest.mark.slow
def test_a_failed_run_keeps_the_final_model_of_the_finished_run_and_says_resume(tiny_mmar, caplog):
    _train(tiny_mmar, epochs=1)
    models = tiny_mmar / "models"
    final = (models / "model_final.pt").read_bytes()

    with caplog.at_level(logging.WARNING, logger="clara"):
        with pytest.raises(RuntimeError, match="injected failure"):
            _train(tiny_mmar, resume=True, epochs=2, fail_at_iteration=5, fail_on_rank=0)

    assert (models / "model_final.pt").read_bytes() == final  # not the failed run's weights
    assert sorted(p.name for p in models.glob("*.pt")) == [
        "model.pt",
        "model_final.pt",
        "resume_checkpoint_epoch=1.pt",
    ]
    assert "resume_checkpoint_epoch=1.pt is kept" in caplog.text
    assert "with --resume to continue" in caplog.text
