"""multiprocessing's resource tracker warns of "leaked semaphore objects" when the launcher
has stopped a worker; the launch gives the tracker a filter for exactly that warning."""

from __future__ import annotations

import os
import subprocess
import sys

from clara_cli.launch.spawn import TRACKER_WARNING_FILTER, _tracker_quiet_about_stopped_workers

# A process that leaks a semaphore (as a stopped worker does), then warns of its own.
LEAK = """
import multiprocessing, os, warnings
lock = multiprocessing.get_context("spawn").Lock()
warnings.warn("a warning of the program itself", UserWarning)
os._exit(0)
"""


def _stderr(extra_env: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    done = subprocess.run(
        [sys.executable, "-c", LEAK], env={**env, **extra_env}, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    return done.stderr


def test_only_the_trackers_warning_is_filtered():
    assert "leaked semaphore" in _stderr({})  # what the filter is for
    stderr = _stderr({"PYTHONWARNINGS": TRACKER_WARNING_FILTER})
    assert "leaked semaphore" not in stderr
    assert "a warning of the program itself" in stderr


def test_the_environment_is_restored(monkeypatch):
    monkeypatch.setenv("PYTHONWARNINGS", "default")
    with _tracker_quiet_about_stopped_workers():
        assert os.environ["PYTHONWARNINGS"] == f"default,{TRACKER_WARNING_FILTER}"
    assert os.environ["PYTHONWARNINGS"] == "default"
    monkeypatch.delenv("PYTHONWARNINGS")
    with _tracker_quiet_about_stopped_workers():
        assert os.environ["PYTHONWARNINGS"] == TRACKER_WARNING_FILTER
    assert "PYTHONWARNINGS" not in os.environ
