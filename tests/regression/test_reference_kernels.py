"""The regressions' kernel pin takes effect: without it their baselines would silently depend on
the CI host's instruction set (see conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys


def test_the_pinned_environment_runs_pytorch_on_avx2_kernels(reference_kernels):
    probe = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, **reference_kernels},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "AVX2"
