"""Resume checkpoints (`clara train --resume`) and finetuning from MMAR_CKPT.

During training rank 0 writes ``resume_checkpoint_epoch=<N>.pt`` into MMAR_CKPT_DIR every
``checkpoint_interval`` epochs (default 1; 0 turns it off) and when training completes,
atomically (see :mod:`clara_cli.engine.checkpoint`), keeping only the newest. It holds
everything the run needs to continue as if it had not stopped at that epoch boundary:

- ``model``, ``optimizer``, ``lr_scheduler``, ``scaler`` state_dicts,
- ``epoch``, ``iteration``, ``epoch_length`` (the trainer's counters),
- ``evaluator``: best key metric and its epoch; ``key_metric_savers``: the tracking lists of
  the config's key-metric CheckpointSavers (so model.pt is only replaced by a better model),
- ``history``: per-epoch loss and metrics (for train_curves.png), ``cpu_bf16``: whether CPU
  bf16 autocast was still on (see :class:`~clara_cli.engine.precision.NonFiniteGradientFallback`),
- ``train_conf``: the resolved config, so the file can also rebuild its network.

Every value is a tensor, number, string or plain container, so loading uses
``torch.load(..., weights_only=True)``. A killed run loses at most the epoch in progress.

A periodic checkpoint written by the config's own CheckpointSaver (``save_interval``,
``checkpoint_epoch=<N>.pt``) is accepted as well: its state_dicts are loaded and the counters
are taken from the epoch in its name.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clara_cli.engine.checkpoint import (
    CHECKPOINT_PATTERN,
    checkpoint_name,
    load_checkpoint,
    save_checkpoint,
)
from clara_cli.errors import ConfigError

log = logging.getLogger("clara")

RESUME_PREFIX = "resume"
_RESUME_FILE = re.compile(rf"^{RESUME_PREFIX}_checkpoint_epoch=(\d+)\.pt$")
# Temporary files of atomic_write (".<name>.<random>.tmp"): only a SIGKILL leaves them behind.
_TEMPORARY = re.compile(r"^\..+\.pt\.[^.]+\.tmp$")


@dataclass
class TrainingParts:
    """The objects of one training run whose state a resume checkpoint holds.

    Attributes:
        trainer: the MONAI SupervisedTrainer (its network may be DDP/autocast-wrapped).
        model: the plain network the trainer runs (what the config calls ``model``).
        optimizer, lr_scheduler: the config's, or None.
        evaluator: the validate section's evaluator, or None.
        savers: the config's CheckpointSavers (rank 0 only; empty elsewhere).
        history: the run's :class:`~clara_cli.engine.handlers.History`, or None.
        conf: the resolved training config.
    """

    trainer: Any
    model: Any
    optimizer: Any = None
    lr_scheduler: Any = None
    evaluator: Any = None
    savers: list[Any] = field(default_factory=list)
    history: Any = None
    conf: dict[str, Any] = field(default_factory=dict)


class ResumeCheckpointer:
    """Writes the resume checkpoint at epoch ends and on completion; attach on rank 0 only.

    Args:
        parts: what to save.
        ckpt_dir: MMAR_CKPT_DIR.
        interval: epochs between checkpoints (>= 1).
    """

    def __init__(self, parts: TrainingParts, ckpt_dir: Path, interval: int = 1) -> None:
        self.parts = parts
        self.ckpt_dir = Path(ckpt_dir)
        self.interval = max(1, int(interval))
        self.last_saved: int | None = None

    def attach(self, trainer: Any) -> None:
        from ignite.engine import Events

        trainer.add_event_handler(Events.EPOCH_COMPLETED(every=self.interval), self)
        trainer.add_event_handler(Events.COMPLETED, self)

    def __call__(self, engine: Any) -> None:
        epoch = int(engine.state.epoch)
        if self.last_saved == epoch:
            return
        path = self.ckpt_dir / checkpoint_name(epoch, RESUME_PREFIX)
        save_checkpoint(collect_state(self.parts), path)
        self.last_saved = epoch
        for old in self.ckpt_dir.iterdir():
            match = _RESUME_FILE.match(old.name)
            if match and int(match.group(1)) != epoch:
                old.unlink(missing_ok=True)
        log.debug("resume checkpoint: %s", path)


def collect_state(parts: TrainingParts) -> dict[str, Any]:
    """Everything a resume needs, as tensors and plain values (``weights_only``-loadable)."""
    import json

    from clara_cli.engine.precision import AutocastForward

    trainer = parts.trainer
    state: dict[str, Any] = {
        "model": parts.model.state_dict(),
        "epoch": int(trainer.state.epoch),
        "iteration": int(trainer.state.iteration),
        "epoch_length": int(trainer.state.epoch_length or 0),
        "train_conf": json.loads(json.dumps(parts.conf, default=str)),
    }
    for key, obj in (("optimizer", parts.optimizer), ("lr_scheduler", parts.lr_scheduler)):
        if obj is not None and hasattr(obj, "state_dict"):
            state[key] = obj.state_dict()
    if getattr(trainer, "scaler", None) is not None:
        state["scaler"] = trainer.scaler.state_dict()
    if isinstance(trainer.network, AutocastForward):
        state["cpu_bf16"] = bool(trainer.network.enabled)
    if parts.evaluator is not None:
        state["evaluator"] = {
            "best_metric": float(parts.evaluator.state.best_metric),
            "best_metric_epoch": int(parts.evaluator.state.best_metric_epoch),
        }
    trackers = [_key_metric_tracker(s) for s in parts.savers]
    state["key_metric_savers"] = [dict(t.state_dict()) if t else {} for t in trackers]
    if parts.history is not None:
        state["history"] = json.loads(json.dumps(parts.history.epochs))
    return state


def find_resume_checkpoint(ckpt_dir: Path) -> Path | None:
    """The checkpoint `--resume` continues from: the newest ``*epoch=N.pt`` in ckpt_dir.

    On a tie, our own ``resume_checkpoint_epoch=N.pt`` wins over the config's saver's file,
    because it also holds the counters and metric tracking.
    """
    folder = Path(ckpt_dir)
    if not folder.is_dir():
        return None
    found = [
        (int(m.group(1)), bool(_RESUME_FILE.match(p.name)), p)
        for p in folder.iterdir()
        if (m := CHECKPOINT_PATTERN.match(p.name)) and p.is_file()
    ]
    return max(found)[2] if found else None


def restore(parts: TrainingParts, path: Path, device: Any) -> int:
    """Load a resume checkpoint into the run's objects; returns the epoch it was taken at.

    The trainer's ``max_epochs`` stays the configured one, so ``--set epochs=N`` can extend
    a finished run.

    Raises:
        ClaraError: the file cannot be read safely (see ``load_checkpoint``).
        ConfigError: the saved weights do not fit the configured network.
    """
    from clara_cli.engine.precision import AutocastForward

    checkpoint = load_checkpoint(path, map_location=device)
    _load_model(parts.model, checkpoint.get("model", checkpoint), path)
    for key, obj in (("optimizer", parts.optimizer), ("lr_scheduler", parts.lr_scheduler)):
        if obj is not None and key in checkpoint:
            obj.load_state_dict(checkpoint[key])
    trainer = parts.trainer
    if getattr(trainer, "scaler", None) is not None and "scaler" in checkpoint:
        trainer.scaler.load_state_dict(checkpoint["scaler"])
    if isinstance(trainer.network, AutocastForward) and "cpu_bf16" in checkpoint:
        trainer.network.enabled = bool(checkpoint["cpu_bf16"])

    epoch = int(checkpoint["epoch"]) if "epoch" in checkpoint else epoch_in_name(path)
    epoch_length = int(trainer.state.epoch_length or 0)
    saved_length = int(checkpoint.get("epoch_length", epoch_length))
    if "iteration" in checkpoint and saved_length == epoch_length:
        iteration = int(checkpoint["iteration"])
    else:
        if saved_length != epoch_length:
            log.warning(
                "an epoch now has %d iterations instead of %d (another number of processes "
                "or batch size); the iteration counter restarts at %d x %d",
                epoch_length,
                saved_length,
                epoch,
                epoch_length,
            )
        iteration = epoch * epoch_length
    # Setting the counters (not Engine.load_state_dict) keeps the configured max_epochs and
    # this run's epoch_length; ignite then continues with epoch + 1.
    trainer.state.epoch = epoch
    trainer.state.iteration = iteration

    if parts.evaluator is not None and "evaluator" in checkpoint:
        parts.evaluator.state.best_metric = checkpoint["evaluator"]["best_metric"]
        parts.evaluator.state.best_metric_epoch = checkpoint["evaluator"]["best_metric_epoch"]
    for saver, saved in zip(parts.savers, checkpoint.get("key_metric_savers", []), strict=False):
        tracker = _key_metric_tracker(saver)
        if tracker is not None and saved:
            tracker.load_state_dict(saved)
    if parts.history is not None and isinstance(checkpoint.get("history"), list):
        parts.history.epochs[:] = [dict(row) for row in checkpoint["history"]]
    return epoch


def load_weights(model: Any, path: Path, device: Any) -> None:
    """Finetuning: load only the network weights of MMAR_CKPT (optimizer and counters fresh).

    Raises:
        ConfigError: the file is missing or its weights do not fit the network.
    """
    if not Path(path).is_file():
        raise ConfigError(
            f"MMAR_CKPT not found: {path}\n"
            "  finetuning (dont_load_ckpt_model=false) starts from this file: train first, "
            "pass --set MMAR_CKPT=PATH, or set dont_load_ckpt_model=true"
        )
    checkpoint = load_checkpoint(path, map_location=device)
    _load_model(model, checkpoint.get("model", checkpoint), path)


def remove_stale_temporaries(ckpt_dir: Path) -> list[Path]:
    """Delete the temporary files a killed checkpoint write left (rank 0, before training)."""
    folder = Path(ckpt_dir)
    if not folder.is_dir():
        return []
    removed = []
    for path in folder.iterdir():
        if _TEMPORARY.match(path.name) and path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    if removed:
        log.debug("removed %d unfinished checkpoint file(s) from %s", len(removed), folder)
    return removed


def _load_model(model: Any, state: Any, path: Path) -> None:
    if not isinstance(state, dict):
        raise ConfigError(f"{path}: 'model' is not a state_dict")
    if state and all(k.startswith("module.") for k in state):
        # Saved from a DistributedDataParallel wrapper rather than the plain network.
        state = {k[len("module.") :]: v for k, v in state.items()}
    from clara_cli.engine.state_fit import load_fitting_weights

    load_fitting_weights(model, state, path)


def epoch_in_name(path: Path) -> int:
    """The N of a ``*epoch=N.pt`` checkpoint name (0 when there is none)."""
    match = CHECKPOINT_PATTERN.match(Path(path).name)
    return int(match.group(1)) if match else 0


def _key_metric_tracker(saver: Any) -> Any:
    return getattr(saver, "_key_metric_checkpoint", None)
