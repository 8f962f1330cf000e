"""Handlers from an archive's own code written for MONAI 0.5's one-dict batches (deepgrow_2D's
custom SegmentationSaver reads `engine.state.batch.get("image")`) run on today's engines, and
handlers written for today's per-item lists still see lists."""

from __future__ import annotations

import torch
from ignite.engine import Engine, Events

from clara_cli.engine.batch_view import BatchView, attach_with_batch_view
from clara_cli.engine.wiring import BuildContext, RunFacts, registered_rules

ITEMS = [
    {"image": torch.zeros(1, 4, 4), "pred": torch.ones(1, 4, 4), "region": 3},
    {"image": torch.ones(1, 4, 4), "pred": torch.zeros(1, 4, 4), "region": 5},
]


def test_a_view_is_the_list_and_reads_like_the_collated_batch():
    view = BatchView(ITEMS)
    assert len(view) == 2 and view[1] is ITEMS[1] and list(view) == ITEMS
    assert view["image"].shape == (2, 1, 4, 4) and view.get("pred")[0].sum() == 16
    assert view["region"].tolist() == [3, 5] and "pred" in view and "label" not in view
    assert view.get("label", "none") == "none" and set(view.keys()) == {"image", "pred", "region"}


class OldStyleSaver:
    """What deepgrow_2D's custom handler does: registers itself, reads batch dicts."""

    def __init__(self) -> None:
        self.seen: list[tuple] = []

    def attach(self, engine: Engine) -> None:
        if not engine.has_event_handler(self, Events.ITERATION_COMPLETED):
            engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        batch, output = engine.state.batch, engine.state.output
        for i in range(len(batch.get("image"))):
            self.seen.append((batch["region"][i].item(), output["pred"][i].sum().item()))


def _engine() -> Engine:
    # Today's engines: state.batch and state.output are lists of per-item dicts.
    engine = Engine(lambda engine, batch: [dict(item) for item in batch])
    return engine


def test_a_user_handler_reads_batch_dicts_and_the_engine_keeps_its_lists():
    saver = attach_with_batch_view(OldStyleSaver())
    engine = _engine()
    saver.attach(engine)
    seen_after = []
    engine.add_event_handler(
        Events.ITERATION_COMPLETED, lambda e: seen_after.append(type(e.state.output))
    )
    engine.run([ITEMS], max_epochs=1)
    assert saver.seen == [(3, 16.0), (5, 0.0)]
    assert seen_after == [list]  # other handlers still get today's plain list
    assert "add_event_handler" not in vars(engine)  # the engine's own method again


def test_a_callback_without_the_engine_argument_is_called_without_it():
    calls = []

    class Counter:
        def attach(self, engine: Engine) -> None:
            engine.add_event_handler(Events.EPOCH_COMPLETED, self.done)

        def done(self) -> None:
            calls.append("done")

    engine = _engine()
    attach_with_batch_view(Counter()).attach(engine)
    engine.run([ITEMS], max_epochs=2)
    assert calls == ["done", "done"]


def _context(target: type, where: str) -> BuildContext:
    return BuildContext(None, target, {}, where, RunFacts(variables={}, device="cpu"))


def test_only_handlers_of_user_code_get_the_view():
    from monai.handlers import StatsHandler

    rule = next(r for r in registered_rules() if r.name == "legacy.user_handler_batch_view")
    assert rule.when(_context(OldStyleSaver, "c.json: handlers[3]"))
    assert rule.when(_context(OldStyleSaver, "c.json: validate.handlers[0]"))
    assert not rule.when(_context(StatsHandler, "c.json: handlers[1]"))
    assert not rule.when(_context(OldStyleSaver, "c.json: train.iteration"))
