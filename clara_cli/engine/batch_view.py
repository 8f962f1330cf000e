"""MONAI 0.5's one-dict batches for handlers written against them (an archive's custom code).

Until MONAI 0.6 an engine's `state.batch` and `state.output` were one dict of batched tensors
(`batch["image"][i]`); today they are lists of per-item dicts. A handler from an archive's
`custom/` (Clara 4.0's DeepGrow `SegmentationSaver`) that reads them as dicts fails with
"'list' object has no attribute 'get'". While such a handler runs, the engine's batch and
output are a :class:`BatchView`: still the list of items, which also answers dict reads
(`view["pred"]`, `view.get("image")`, `view.keys()`) with the items collated by MONAI's
`list_data_collate`, so handlers written for either convention work.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any


class BatchView(list):  # type: ignore[type-arg]
    """A list of per-item dicts that also reads like their collated batch dict."""

    _collated: dict[str, Any] | None = None

    def batch(self) -> dict[str, Any]:
        """The items collated into one batch dict (computed once)."""
        if self._collated is None:
            from monai.data import list_data_collate

            self._collated = list_data_collate(list(self))
        return self._collated

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self.batch()[key]
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            return key in self.batch()
        return super().__contains__(key)

    def get(self, key: str, default: Any = None) -> Any:
        """`dict.get` on the collated batch."""
        return self.batch().get(key, default)

    def keys(self) -> Any:
        """The collated batch's keys."""
        return self.batch().keys()

    def values(self) -> Any:
        """The collated batch's values."""
        return self.batch().values()

    def items(self) -> Any:
        """The collated batch's items."""
        return self.batch().items()


def as_view(value: Any) -> Any:
    """`value` as a BatchView when it is a non-empty list of dicts, else unchanged."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return BatchView(value)
    return value


class WithBatchView:
    """An event handler that runs with `engine.state.batch/output` as BatchViews.

    Args:
        fn: the handler's callback as it registered it.
        takes_engine: whether ignite passes the engine to it.
    """

    def __init__(self, fn: Callable[..., Any], takes_engine: bool) -> None:
        self.fn = fn
        self.takes_engine = takes_engine

    def __call__(self, engine: Any, *args: Any, **kwargs: Any) -> Any:
        state = engine.state
        saved = (state.batch, state.output)
        state.batch, state.output = as_view(state.batch), as_view(state.output)
        try:
            return (
                self.fn(engine, *args, **kwargs) if self.takes_engine else self.fn(*args, **kwargs)
            )
        finally:
            state.batch, state.output = saved


def attach_with_batch_view(handler: Any) -> Any:
    """Make every callback `handler.attach(engine)` registers run with BatchViews; returns it."""
    attach = getattr(handler, "attach", None)
    if not callable(attach):
        return handler

    def attach_viewing(engine: Any) -> Any:
        register = engine.add_event_handler

        def add_event_handler(event: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            wrapped = WithBatchView(fn, _takes_engine(fn, engine, args, kwargs))
            return register(event, wrapped, *args, **kwargs)

        engine.add_event_handler = add_event_handler
        try:
            return attach(engine)
        finally:
            del engine.add_event_handler  # the class's method again

    handler.attach = attach_viewing
    return handler


def _takes_engine(fn: Callable[..., Any], engine: Any, args: tuple, kwargs: dict) -> bool:
    """Whether ignite would pass the engine first (as its own signature check decides)."""
    try:
        inspect.signature(fn).bind(engine, *args, **kwargs)
    except TypeError:
        return False
    except ValueError:  # no signature (a builtin): ignite passes the engine
        return True
    return True
