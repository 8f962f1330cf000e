"""Evaluation on more processes than cases: a rank with no case joins in with nothing to add.

Evaluation shards are not padded (a copy of a case would be scored twice), so with fewer
validation cases than processes some ranks hold none. MONAI cannot run such a rank: its
`Workflow.run` skips an empty loader (and warns that the job may then hang), and its
`Cumulative` metrics all-gather their buffers only when the rank has one, so the ranks that do
have cases wait in a collective the empty rank never enters. Nothing in MONAI or ignite runs an
epoch of zero iterations, hence the two hand-written pieces here:

- the evaluator of an empty rank fires its epoch's events (started, epoch started and
  completed, completed) with no iteration in between, so every handler and metric runs its
  end-of-epoch step, collectives included;
- on every rank of the job, each cumulative metric gathers its buffers as Python objects
  (`all_gather_object`), which lets a rank send "nothing" and keeps shapes free.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any


def join_evaluation_with_empty_shards(evaluator: Any, world_size: int) -> None:
    """Let `evaluator` run in a job where some ranks may have no case (no-op in one process).

    Call it on every rank, after the evaluator and its metric handlers are built.
    """
    if evaluator is None or world_size <= 1:
        return
    for metric in _cumulative_metrics(evaluator):
        metric._sync = types.MethodType(_sync_as_objects, metric)
    if not evaluator.state.epoch_length:
        evaluator.run = types.MethodType(_run_without_cases, evaluator)


def _cumulative_metrics(evaluator: Any) -> Iterator[Any]:
    from monai.metrics import Cumulative

    seen: set[int] = set()
    for handlers in evaluator._event_handlers.values():
        for handler, _args, _kwargs in handlers:
            metric = getattr(getattr(handler, "__self__", None), "metric_fn", None)
            if isinstance(metric, Cumulative) and id(metric) not in seen:
                seen.add(id(metric))
                yield metric


def _run_without_cases(self: Any, global_epoch: int = 1) -> None:
    """The evaluator's `run` on a rank with no case: one epoch of zero iterations."""
    from ignite.engine import Events

    state = self.state
    state.max_epochs = max(global_epoch, 1)
    state.epoch = global_epoch - 1
    state.iteration = 0
    self.should_terminate = self.should_terminate_single_epoch = False
    self._fire_event(Events.STARTED)
    state.epoch += 1
    self._fire_event(Events.EPOCH_STARTED)
    self._fire_event(Events.EPOCH_COMPLETED)
    self._fire_event(Events.COMPLETED)


def _sync_as_objects(self: Any) -> None:
    """`Cumulative._sync` that every rank enters, with or without buffers of its own."""
    import torch
    import torch.distributed as dist

    if self._synced:
        return
    local = None
    if self._buffers is not None:
        local = [torch.stack(b, dim=0).cpu() if b else None for b in self._buffers]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, local)
    parts = [part for part in gathered if part is not None]
    if not parts:
        self._synced_tensors = None
    else:
        self._synced_tensors = [
            torch.cat([p[i] for p in parts if p[i] is not None], dim=0)
            if any(p[i] is not None for p in parts)
            else None
            for i in range(len(parts[0]))
        ]
    self._synced = True
