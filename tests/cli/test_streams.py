"""`clara` in an ASCII locale: print, logging and click all write UTF-8, nothing crashes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_SCRIPT = """
import logging, sys, click
from clara_cli.cli.streams import make_text_streams_utf8
make_text_streams_utf8()
print("print \\u00b1")
click.echo("click \\u00b1")
logging.basicConfig(stream=sys.stdout, format="%(message)s")
logging.warning("log \\u00b1 \\u2192")
print("bad \\udcff", file=sys.stderr)
"""


def _ascii_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "PYTHONIO"))}
    return {**env, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONPATH": str(REPO)}


def test_ascii_locale_really_is_ascii_without_the_fix():
    # Guards the test below: if this Python never picks ASCII, that test proves nothing.
    result = subprocess.run(
        [sys.executable, "-c", "print('\\u00b1')"], env=_ascii_env(), capture_output=True
    )
    assert result.returncode != 0 and b"UnicodeEncodeError" in result.stderr


def test_print_logging_and_click_write_utf8_in_an_ascii_locale():
    result = subprocess.run([sys.executable, "-c", _SCRIPT], env=_ascii_env(), capture_output=True)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    assert result.stdout.decode("utf-8").splitlines() == [
        "print \u00b1",
        "click \u00b1",
        "log \u00b1 \u2192",
    ]
    assert result.stderr == b"bad \\udcff\n"


def test_clara_group_fixes_the_streams_before_any_command():
    code = "import sys; from clara_cli.cli.main import cli; cli.main(['--help'], standalone_mode=False); print(sys.stdout.encoding)"
    result = subprocess.run([sys.executable, "-c", code], env=_ascii_env(), capture_output=True)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    assert result.stdout.decode("utf-8").splitlines()[-1] == "utf-8"
