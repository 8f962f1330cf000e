"""A rank leaves its process group before the interpreter's final clean-up.

Left to the final garbage collection, gloo's worker threads could need the GIL while Python
is finalizing and the process aborted ("terminate called without an active exception").
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RANK_SCRIPT = """
import atexit
import torch.distributed as dist
from clara_cli.launch.process_group import all_gather_objects, init_distributed

ctx = init_distributed(device="cpu")
assert all_gather_objects(ctx, ctx.rank) == [0, 1]
atexit._run_exitfuncs()  # what the interpreter runs first at exit
print("initialized after the exit handlers:", dist.is_initialized())
"""


def test_the_process_group_is_left_by_the_exit_handlers():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = {**os.environ, "PYTHONPATH": str(REPO), "WORLD_SIZE": "2", "OMP_NUM_THREADS": "1"}
    base.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    ranks = [
        subprocess.Popen(
            [sys.executable, "-c", RANK_SCRIPT],
            env={**base, "RANK": str(rank), "LOCAL_RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            errors="replace",
        )
        for rank in (0, 1)
    ]
    for rank in ranks:
        out, err = rank.communicate(timeout=120)
        assert rank.returncode == 0, err[-2000:]
        assert "initialized after the exit handlers: False" in out
        assert "terminate called" not in err
