"""What `amp: true` becomes on each device, the one-time CPU notice, and backend flags."""

from __future__ import annotations

import logging

import pytest
import torch

from clara_cli.engine import amp
from clara_cli.engine.amp import AmpSettings, resolve_amp


@pytest.fixture(autouse=True)
def fresh_notice(monkeypatch):
    monkeypatch.setattr(amp, "_warned_cpu", False)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def text(self) -> str:
        return "\n".join(r.getMessage() for r in self.records)


@pytest.fixture
def amp_log():
    """The records of the amp logger, whatever the CLI's "clara" logger propagation."""
    handler = _Records()
    amp.logger.addHandler(handler)
    try:
        yield handler
    finally:
        amp.logger.removeHandler(handler)


def test_off_when_not_requested():
    settings = resolve_amp(False, torch.device("cpu"))
    assert settings == AmpSettings(enabled=False, device_type="cpu")
    assert settings.make_scaler() is None
    assert settings.autocast_kwargs() == {}
    with settings.autocast():
        assert not torch.is_autocast_enabled("cpu")


def test_cuda_means_fp16_with_a_grad_scaler():
    settings = resolve_amp(True, "cuda:1")
    assert settings == AmpSettings(True, "cuda", torch.float16, use_scaler=True)
    assert settings.autocast_kwargs() == {"dtype": torch.float16}


def test_cpu_with_native_bf16_uses_bf16_autocast_and_no_scaler(monkeypatch, amp_log):
    monkeypatch.setattr(amp, "cpu_has_native_bf16", lambda: True)
    settings = resolve_amp(True, "cpu")
    resolve_amp(True, "cpu")
    assert settings == AmpSettings(True, "cpu", torch.bfloat16, use_scaler=False)
    assert settings.make_scaler() is None
    with settings.autocast():
        out = torch.nn.Linear(4, 4)(torch.ones(2, 4))
    assert out.dtype == torch.bfloat16
    assert len(amp_log.records) == 1 and "bf16 autocast" in amp_log.records[0].getMessage()


def test_cpu_without_native_bf16_turns_amp_off_with_one_notice(monkeypatch, amp_log):
    monkeypatch.setattr(amp, "cpu_has_native_bf16", lambda: False)
    settings = resolve_amp(True, torch.device("cpu"))
    resolve_amp(True, torch.device("cpu"))
    assert not settings.enabled
    with settings.autocast():
        assert torch.nn.Linear(4, 4)(torch.ones(2, 4)).dtype == torch.float32
    assert len(amp_log.records) == 1 and "training in fp32" in amp_log.records[0].getMessage()
