"""Engine preparation: the run's AMP flag and network wrapper; trainer and saver after build."""

from __future__ import annotations

import warnings

import pytest
import torch
from monai import engines, handlers

from clara_cli.engine.checkpoint import AtomicDiskSaver
from clara_cli.engine.precision import AutocastForward


def _trainer(network: torch.nn.Module) -> engines.SupervisedTrainer:
    params = [p for p in network.parameters()]
    return engines.SupervisedTrainer(
        device=torch.device("cpu"),
        max_epochs=1,
        train_data_loader=[{"image": torch.ones(1, 2), "label": torch.ones(1, 1)}],
        network=network,
        optimizer=torch.optim.SGD(params, lr=0.1),
        loss_function=torch.nn.MSELoss(),
    )


def test_engines_get_the_amp_the_run_resolved_not_the_configs(kit):
    ctx = kit.context(engines.SupervisedTrainer, {"amp": True}, amp_enabled=False)
    assert kit.before("preparation.engine_amp", ctx)["amp"] is False
    ctx = kit.context(engines.SupervisedEvaluator, {}, amp_enabled=True)
    assert kit.before("preparation.engine_amp", ctx)["amp"] is True


def test_the_engine_network_is_prepared_for_training_or_evaluation(kit):
    calls = []

    def prepare(network, training):
        calls.append((network, training))
        return f"prepared {network}"

    for engine in (engines.SupervisedTrainer, engines.Evaluator):
        ctx = kit.context(engine, {"network": "net"}, prepare_network=prepare)
        assert kit.before("preparation.engine_network", ctx)["network"] == "prepared net"
    assert calls == [("net", True), ("net", False)]
    ctx = kit.context(engines.SupervisedEvaluator, {}, prepare_network=prepare)
    assert "network" not in kit.before("preparation.engine_network", ctx)
    assert len(calls) == 2


def test_an_amp_trainer_gets_torch_amps_grad_scaler(kit):
    trainer = _trainer(torch.nn.Linear(2, 1))
    # As MONAI leaves a CUDA AMP trainer (this CPU run cannot build one).
    trainer.amp, trainer.scaler = True, "torch.cuda.amp.GradScaler()"
    with warnings.catch_warnings():  # "CUDA is not available. Disabling." on this CPU
        warnings.simplefilter("ignore", UserWarning)
        kit.after("preparation.grad_scaler", kit.after_context(trainer))
    assert type(trainer.scaler) is torch.amp.GradScaler
    plain = _trainer(torch.nn.Linear(2, 1))
    assert kit.after("preparation.grad_scaler", kit.after_context(plain)).scaler is None


def test_a_cpu_autocast_trainer_redoes_non_finite_steps_in_fp32(kit):
    net = torch.nn.Linear(2, 1)
    trainer = _trainer(AutocastForward(net, "cpu", torch.bfloat16))
    iteration = trainer._process_function
    assert kit.after("preparation.non_finite_fallback", kit.after_context(trainer)) is trainer
    assert trainer._process_function is not iteration
    assert len(trainer.optimizer._optimizer_step_pre_hooks) == 1
    # A plain fp32 network needs no fallback.
    plain = _trainer(torch.nn.Linear(2, 1))
    iteration = plain._process_function
    kit.after("preparation.non_finite_fallback", kit.after_context(plain))
    assert plain._process_function is iteration


def test_a_checkpoint_saver_writes_atomically(kit, tmp_path):
    net = torch.nn.Linear(2, 1)
    saver = handlers.CheckpointSaver(str(tmp_path), {"model": net}, save_final=True)
    assert kit.after("preparation.atomic_checkpoints", kit.after_context(saver)) is saver
    assert isinstance(saver._final_checkpoint.save_handler, AtomicDiskSaver)


def test_a_failed_or_interrupted_run_writes_no_final_checkpoint(kit, tmp_path):
    from ignite.engine import Events

    for stop in (RuntimeError("bad label"), KeyboardInterrupt()):
        net = torch.nn.Linear(2, 1)
        saver = handlers.CheckpointSaver(str(tmp_path), {"model": net}, save_final=True)
        kit.after("preparation.no_final_model_on_error", kit.after_context(saver))
        trainer = _trainer(net)
        saver.attach(trainer)

        def fail(engine, error=stop):
            raise error

        trainer.add_event_handler(Events.ITERATION_COMPLETED, fail)
        with pytest.raises(type(stop)):
            trainer.run()
        assert list(tmp_path.iterdir()) == []
    completed = _trainer(net)
    saver.attach(completed)
    completed.run()
    assert [p.name for p in tmp_path.iterdir()] == ["model_final_iteration=1.pt"]
