"""Engine preparation: what the run decides for every trainer, evaluator and checkpoint saver.

Before construction an engine gets the run's AMP flag and its network prepared (DDP, CPU
autocast); after it, a trainer gets torch.amp's GradScaler, the bf16 non-finite-gradient
fallback, the non-finite loss guard and the naming of a failing batch's cases, and a CheckpointSaver writes atomically and keeps
its final checkpoint for a completed run.
"""

from __future__ import annotations

from typing import Any

from clara_cli.engine.wiring.predicates import subclass_of
from clara_cli.engine.wiring.rules import BuildContext, Rule

_is_trainer = subclass_of("monai.engines.Trainer")
_is_engine = subclass_of("monai.engines.Trainer", "monai.engines.Evaluator")


def _engine_amp(ctx: BuildContext) -> None:
    # Not a fill: resolve_amp decided from the config's `amp` and the device (engine/amp.py).
    if "amp" in ctx.params:
        ctx.args["amp"] = ctx.facts.amp_enabled


def _engine_network(ctx: BuildContext) -> None:
    network = ctx.args.get("network")
    if network is not None:
        ctx.args["network"] = ctx.facts.prepare_network(network, _is_trainer(ctx))


def _grad_scaler(ctx: BuildContext) -> Any:
    trainer = ctx.obj
    if trainer.amp and trainer.scaler is not None:
        import torch

        # MONAI still builds the deprecated torch.cuda.amp.GradScaler; use torch.amp's.
        trainer.scaler = torch.amp.GradScaler("cuda")
    return trainer


def _non_finite_fallback(ctx: BuildContext) -> Any:
    from clara_cli.engine.precision import AutocastForward, NonFiniteGradientFallback

    trainer = ctx.obj
    if isinstance(trainer.network, AutocastForward):
        NonFiniteGradientFallback(trainer.network).attach(trainer)
    return trainer


def _non_finite_loss_guard(ctx: BuildContext) -> Any:
    from clara_cli.engine.finite import NonFiniteLossGuard

    # After the bf16 fallback's rule: the guard wraps it and sees the fp32 redo's loss.
    NonFiniteLossGuard().attach(ctx.obj)
    return ctx.obj


def _batch_error_namer(ctx: BuildContext) -> Any:
    from clara_cli.engine.case_errors import BatchErrorNamer

    # After the loss guard's rule: a step failing on its data names the batch's cases.
    BatchErrorNamer().attach(ctx.obj)
    return ctx.obj


def _atomic_checkpoints(ctx: BuildContext) -> Any:
    from clara_cli.engine.checkpoint import make_checkpoint_saver_atomic

    # MONAI writes in place: a kill mid-write would leave a truncated model.pt.
    make_checkpoint_saver_atomic(ctx.obj)
    return ctx.obj


def _no_final_model_on_error(ctx: BuildContext) -> Any:
    # MONAI's CheckpointSaver writes its final checkpoint (model_final.pt) on an exception or
    # Ctrl-C as well, replacing a finished run's final model with broken or interrupted
    # weights. A failed run keeps the resume checkpoint instead (see workflows/train.py).
    def reraise(engine: Any, error: BaseException) -> None:
        raise error

    ctx.obj.exception_raised = reraise
    return ctx.obj


_SUPERVISED_TRAINER = subclass_of("monai.engines.SupervisedTrainer")

RULES = (
    Rule("preparation.engine_amp", _is_engine, before=_engine_amp),
    Rule("preparation.engine_network", _is_engine, before=_engine_network),
    Rule("preparation.grad_scaler", _SUPERVISED_TRAINER, after=_grad_scaler),
    Rule("preparation.non_finite_fallback", _SUPERVISED_TRAINER, after=_non_finite_fallback),
    Rule("preparation.non_finite_loss", _SUPERVISED_TRAINER, after=_non_finite_loss_guard),
    Rule("preparation.batch_errors", _SUPERVISED_TRAINER, after=_batch_error_namer),
    Rule(
        "preparation.no_final_model_on_error",
        subclass_of("monai.handlers.CheckpointSaver"),
        after=_no_final_model_on_error,
    ),
    Rule(
        "preparation.atomic_checkpoints",
        subclass_of("monai.handlers.CheckpointSaver"),
        after=_atomic_checkpoints,
    ),
)
