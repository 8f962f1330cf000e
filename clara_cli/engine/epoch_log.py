"""One log line per training epoch: what a batch job's log keeps (no progress bar needed).

    2026-12-01 14:52:03  epoch 3/30  loss 0.6123  lr 1.00e-04  58.2 s  ETA 0:26:11

Logged on rank 0 after the epoch's validation (if any), whether or not a progress bar is
drawn: a bar is erased when its epoch ends, so without this line an epoch without validation
left nothing on screen, and a redirected log held only `\\r` frames.
"""

from __future__ import annotations

import datetime
import logging
import time
from typing import Any

log = logging.getLogger("clara")


class EpochLog:
    """Logs loss, learning rate, epoch time, ETA and a timestamp after every epoch.

    Args:
        history: the run's `History` (its row for the epoch holds the mean loss).
        optimizer: the trainer's optimizer (for the learning rate), or None.
    """

    def __init__(self, history: Any, optimizer: Any = None) -> None:
        self.history = history
        self.optimizer = optimizer
        self._started = 0.0
        self._seconds: list[float] = []

    def attach(self, trainer: Any) -> None:
        """Attach after the History (its epoch loss must exist when this runs)."""
        from ignite.engine import Events

        trainer.add_event_handler(Events.EPOCH_STARTED, self._start)
        trainer.add_event_handler(Events.EPOCH_COMPLETED, self._log)

    def _start(self, engine: Any) -> None:
        self._started = time.monotonic()

    def _log(self, engine: Any) -> None:
        seconds = time.monotonic() - self._started
        self._seconds.append(seconds)
        log.info(
            format_epoch_line(
                engine.state, self._loss(engine.state.epoch), self._lr(), seconds, self._seconds
            )
        )

    def _loss(self, epoch: int) -> float | None:
        rows = getattr(self.history, "epochs", [])
        if rows and rows[-1].get("epoch") == epoch:
            return rows[-1].get("loss")
        return None

    def _lr(self) -> float | None:
        groups = getattr(self.optimizer, "param_groups", None)
        return float(groups[0]["lr"]) if groups else None


def format_epoch_line(
    state: Any, loss: float | None, lr: float | None, seconds: float, durations: list[float]
) -> str:
    """The epoch's line (see module doc); the ETA uses the mean epoch time of this run."""
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    parts = [stamp, f"epoch {state.epoch}/{state.max_epochs}"]
    if loss is not None:
        parts.append(f"loss {loss:.4f}")
    if lr is not None:
        parts.append(f"lr {lr:.2e}")
    parts.append(f"{seconds:.1f} s")
    remaining = max(int(state.max_epochs or 0) - int(state.epoch), 0)
    eta = remaining * sum(durations) / len(durations) if durations else 0.0
    parts.append(f"ETA {datetime.timedelta(seconds=round(eta))}")
    return "  ".join(parts)
