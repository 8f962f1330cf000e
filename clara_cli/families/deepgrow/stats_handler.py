"""`DeepgrowStatsHandler`: Dice per label region over an epoch, as Clara's DeepGrow configs log it.

Clara 4.0 named it by the Clara-internal path `deepgrow.handler.DeepgrowStatsHandler`; that
module no longer exists (it also used MONAI APIs removed since), and
`clara_cli.registry.shims` maps the path to this handler. It logs, at every epoch end, the
mean Dice of each label region seen (the datalist's `region`, one line each) and their
average, to the log and to TensorBoard (`<tag>_<region>`, `<tag>_regions_avg`). Clara's
version also drew sample images into TensorBoard; this one does not (`images`,
`image_interval`, `max_channels` and `max_frames` are accepted and ignored): `clara validate`
writes its own figures.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

log = logging.getLogger("clara")


class DeepgrowStatsHandler:
    """Mean Dice per label region at every epoch end (log and TensorBoard).

    Args:
        summary_writer: a TensorBoard SummaryWriter; None creates one in `log_dir` on first use.
        interval: score every `interval` iterations.
        log_dir: TensorBoard folder.
        tag_name: scalar name prefix.
        compute_metric: score at all (False: the handler does nothing).
        add_scalar: write TensorBoard scalars (else only log lines).
        merge_scalar: one TensorBoard chart with a line per region instead of one per region.
        images, image_interval, max_channels, max_frames, fold_size: accepted for Clara
            configs, ignored.
    """

    def __init__(
        self,
        summary_writer: Any = None,
        interval: int = 1,
        log_dir: str = "./runs",
        tag_name: str = "val_dice",
        compute_metric: bool = True,
        images: bool = True,
        image_interval: int = 1,
        max_channels: int = 1,
        max_frames: int = 64,
        add_scalar: bool = True,
        merge_scalar: bool = False,
        fold_size: int = 0,
    ) -> None:
        self.writer = summary_writer
        self.interval = interval
        self.log_dir = log_dir
        self.tag_name = tag_name
        self.compute_metric = compute_metric
        self.add_scalar = add_scalar
        self.merge_scalar = merge_scalar
        self.scores: dict[str, list[float]] = defaultdict(list)

    def attach(self, engine: Any) -> None:
        """Score after every `interval` iterations; report and reset at every epoch end."""
        from ignite.engine import Events

        if not self.compute_metric:
            return
        engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.interval), self.iteration)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.epoch)

    def iteration(self, engine: Any) -> None:
        """Add the Dice of every item of the engine's output under its region."""
        for item, output in zip(
            _items(engine.state.batch), _items(engine.state.output), strict=False
        ):
            score = region_dice(output["pred"], output["label"])
            if score is not None:
                self.scores[_region(item)].append(score)

    def epoch(self, engine: Any) -> None:
        """Log each region's mean Dice and their average, then start the next epoch afresh."""
        if not self.scores:
            return
        epoch = int(engine.state.epoch)
        means = {region: sum(v) / len(v) for region, v in sorted(self.scores.items())}
        for region, mean in means.items():
            log.info("epoch %d: %s region %s: %.4f (%d)", epoch, self.tag_name, region, mean,
                     len(self.scores[region]))  # fmt: skip
        average = sum(means.values()) / len(means)
        if self.add_scalar:
            writer = self._writer()
            if self.merge_scalar:
                writer.add_scalars(f"{self.tag_name}_region", {**means, "avg": average}, epoch)
            else:
                for region, mean in means.items():
                    writer.add_scalar(f"{self.tag_name}_{region}", mean, epoch)
                writer.add_scalar(f"{self.tag_name}_regions_avg", average, epoch)
            writer.flush()
        self.scores.clear()

    def _writer(self) -> Any:
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=self.log_dir)
        return self.writer


def region_dice(pred: Any, label: Any) -> float | None:
    """Dice of a binary prediction (> 0.5) and label (> 0.5); None when both are empty."""
    import numpy as np

    p = np.asarray(_numpy(pred)) > 0.5
    g = np.asarray(_numpy(label)) > 0.5
    total = int(p.sum()) + int(g.sum())
    if total == 0:
        return None
    return 2.0 * float(np.logical_and(p, g).sum()) / total


def _numpy(value: Any) -> Any:
    if hasattr(value, "detach"):
        return value.detach().float().cpu().numpy()
    return value


def _items(value: Any) -> list[Any]:
    """Per-item dicts of an engine batch/output: decollated lists, or one collated dict."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        from monai.data import decollate_batch

        return list(decollate_batch(value, detach=True))
    return []


def _region(item: Any) -> str:
    region: Any = item.get("region") if isinstance(item, dict) else None
    if region is not None and hasattr(region, "item"):
        region = region.item()
    return "all" if region is None else f"{int(region):02d}"
