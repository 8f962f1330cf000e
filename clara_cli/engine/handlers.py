"""Event handlers the engine attaches to MONAI/ignite workflows, and our own config handlers.

Capitalised names here are also found by config `name` (the handler registry searches this
module first), e.g. `SegmentationSaver` for Clara 4.0 configs written for MONAI 0.x.
"""

from __future__ import annotations

import logging
import math
from typing import Any

log = logging.getLogger("clara")


def _loss_of(output: Any) -> float | None:
    """The loss in a trainer's iteration output (a list of dicts after decollation)."""
    item = output[0] if isinstance(output, list) and output else output
    if isinstance(item, dict) and "loss" in item:
        value = item["loss"]
        return float(value.item() if hasattr(value, "item") else value)
    return None


class EpochProgress:
    """A tqdm bar per epoch showing the running mean loss (attach on rank 0 only); drawn only
    on a terminal (see `clara_cli.logs.progress_bars_enabled`)."""

    def __init__(self, disable: bool = False) -> None:
        self.disable = disable
        self._bar: Any = None
        self._total = 0.0
        self._count = 0

    def attach(self, engine: Any) -> None:
        from ignite.engine import Events

        engine.add_event_handler(Events.EPOCH_STARTED, self._start)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._step)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._close)
        engine.add_event_handler(Events.TERMINATE, self._close)
        engine.add_event_handler(Events.EXCEPTION_RAISED, self._close_on_error)

    def _start(self, engine: Any) -> None:
        from tqdm.auto import tqdm

        from clara_cli.logs import progress_bars_enabled

        self._total, self._count = 0.0, 0
        self._bar = tqdm(
            total=engine.state.epoch_length,
            desc=f"epoch {engine.state.epoch}/{engine.state.max_epochs}",
            unit="it",
            leave=False,
            # Not a terminal (a batch job's log): no bar; clara_cli.engine.epoch_log logs lines.
            disable=self.disable or not progress_bars_enabled(),
            dynamic_ncols=True,
        )

    def _step(self, engine: Any) -> None:
        loss = _loss_of(engine.state.output)
        if loss is not None and math.isfinite(loss):
            self._total += loss
            self._count += 1
        if self._bar is not None:
            if self._count:
                self._bar.set_postfix(loss=f"{self._total / self._count:.4f}")
            self._bar.update(1)
            # Close on the epoch's last iteration, before EPOCH_COMPLETED runs validation, so
            # the validation log line does not land on the bar's line.
            if (
                engine.state.epoch_length
                and engine.state.iteration % engine.state.epoch_length == 0
            ):
                self._close(engine)

    def _close(self, engine: Any) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _close_on_error(self, engine: Any, error: BaseException) -> None:
        self._close(engine)
        raise error


class History:
    """Per-epoch mean training loss and validation metrics, for logs and train_curves.png.

    Args:
        key_metric: the evaluator's key metric name.
        reduce_loss: averages a float over ranks (identity in one process).
    """

    def __init__(self, key_metric: str | None, reduce_loss: Any = None) -> None:
        self.key_metric = key_metric
        self.reduce_loss = reduce_loss or (lambda x: x)
        self.epochs: list[dict[str, Any]] = []
        self.losses: list[float] = []  # this rank's loss at every iteration of this run
        self._sum = 0.0
        self._n = 0

    def attach(self, trainer: Any, evaluator: Any | None) -> None:
        from ignite.engine import Events

        trainer.add_event_handler(Events.EPOCH_STARTED, self._reset)
        trainer.add_event_handler(Events.ITERATION_COMPLETED, self._accumulate)
        trainer.add_event_handler(Events.EPOCH_COMPLETED, self._epoch_done)
        if evaluator is not None:
            evaluator.add_event_handler(Events.COMPLETED, self._validated(trainer))

    def _reset(self, engine: Any) -> None:
        self._sum, self._n = 0.0, 0

    def _accumulate(self, engine: Any) -> None:
        loss = _loss_of(engine.state.output)
        if loss is not None:
            self.losses.append(loss)
            self._sum += loss
            self._n += 1

    def _epoch_done(self, engine: Any) -> None:
        self._epoch_loss(engine.state.epoch)

    def _epoch_loss(self, epoch: int) -> float:
        # Validation (a trainer handler attached before this one) may ask first; reduce once.
        # Every rank runs both call sites, so the collective inside reduce_loss stays matched.
        row = self._row(epoch)
        if "loss" not in row:
            row["loss"] = self.reduce_loss(self._sum / self._n) if self._n else float("nan")
        return float(row["loss"])

    def _row(self, epoch: int) -> dict[str, Any]:
        if not self.epochs or self.epochs[-1]["epoch"] != epoch:
            self.epochs.append({"epoch": epoch})
        return self.epochs[-1]

    def _validated(self, trainer: Any) -> Any:
        def record(evaluator: Any) -> None:
            self._epoch_loss(trainer.state.epoch)
            row = self._row(trainer.state.epoch)
            for name, value in evaluator.state.metrics.items():
                if isinstance(value, (int, float)):
                    row[name] = float(value)
            if self.key_metric and self.key_metric in evaluator.state.metrics:
                best = evaluator.state.best_metric
                log.info(
                    "epoch %d/%d: loss %.4f  %s %.4f  (best %.4f at epoch %d)",
                    trainer.state.epoch,
                    trainer.state.max_epochs,
                    row.get("loss", float("nan")),
                    self.key_metric,
                    float(evaluator.state.metrics[self.key_metric]),
                    float(best),
                    evaluator.state.best_metric_epoch,
                )

        return record


class SegmentationSaver:
    """Clara 4.0's SegmentationSaver handler (removed from MONAI), on today's SaveImage.

    Writes each case's prediction under `output_dir` as `<case>_<output_postfix><ext>`.
    """

    def __init__(
        self,
        output_dir: str = "./",
        output_postfix: str = "seg",
        output_ext: str = ".nii.gz",
        resample: bool = True,
        mode: str = "nearest",
        batch_transform: Any = None,
        output_transform: Any = None,
        name: str | None = None,
        **_ignored: Any,
    ) -> None:
        from monai.transforms import SaveImage

        self.saver = SaveImage(
            output_dir=output_dir,
            output_postfix=output_postfix,
            output_ext=output_ext,
            resample=resample,
            mode=mode,
            separate_folder=False,
            print_log=False,
        )
        self.output_transform = output_transform

    def attach(self, engine: Any) -> None:
        from ignite.engine import Events

        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Any) -> None:
        output = engine.state.output
        items = output if isinstance(output, list) else [output]
        for item in items:
            pred = self.output_transform(item) if self.output_transform else item["pred"]
            self.saver(pred)
