"""No MONAI traceback without --debug: StatsHandler only re-raises, and an error raised in a
DataLoader worker (whose message is the worker's whole traceback) is reported in one line."""

from __future__ import annotations

import logging

import pytest

from clara_cli.cli.errors import describe_exception
from clara_cli.engine.wiring import Wiring

WORKER_ERROR = """Caught RuntimeError in DataLoader worker process 0.
Original Traceback (most recent call last):
  File "/venv/monai/transforms/transform.py", line 150, in apply_transform
    return _apply_transform(transform, data, unpack_items, lazy, overrides, log_stats)
KeyError: 'image_meta_dict'

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/venv/monai/transforms/transform.py", line 185, in apply_transform
    raise RuntimeError(f"applying transform {transform}") from e
RuntimeError: applying transform <monai.apps.deepgrow.transforms.SpatialCropForegroundd object at 0x7f22657f3ed0>

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
RuntimeError: applying transform <monai.transforms.compose.Compose object at 0x7f22657f3ed0>
"""


def test_meta_dict_worker_error_is_described_in_one_line_with_its_transform():
    text = describe_exception(RuntimeError(WORKER_ERROR))
    assert text == "KeyError: 'image_meta_dict'\n  while applying transform SpatialCropForegroundd"


def test_meta_dict_other_errors_are_described_as_before():
    assert describe_exception(ValueError("bad value")) == "ValueError: bad value"


class _Section:
    name = "validate"


def _failing_engine_with_stats_handler():
    from ignite.engine import Engine
    from monai.handlers import StatsHandler

    def step(engine, batch):
        raise ValueError("boom in a post-transform")

    engine = Engine(step)
    handler = Wiring({}, "cpu").after_build(
        _Section(), StatsHandler(name="meta_dict_test"), {"name": "StatsHandler"}, "handlers[1]"
    )
    handler.attach(engine)
    return engine


@pytest.fixture
def clara_log_level():
    logger = logging.getLogger("clara")
    saved = logger.level
    yield logger
    logger.setLevel(saved)


def test_meta_dict_stats_handler_reraises_without_printing_a_traceback(capfd, clara_log_level):
    clara_log_level.setLevel(logging.INFO)
    engine = _failing_engine_with_stats_handler()
    with pytest.raises(ValueError, match="boom"):
        engine.run([0])
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "boom" not in out + err


def test_meta_dict_stats_handler_still_logs_the_traceback_with_debug(capfd, clara_log_level):
    clara_log_level.setLevel(logging.DEBUG)
    engine = _failing_engine_with_stats_handler()
    with pytest.raises(ValueError, match="boom"):
        engine.run([0])
    out, err = capfd.readouterr()
    assert "Traceback" in out + err
