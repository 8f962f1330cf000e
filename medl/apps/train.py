"""`python -m medl.apps.train`: Clara's entry point, run by `clara` (see medl.apps.translate)."""

from __future__ import annotations

import sys

from medl.apps.translate import main

if __name__ == "__main__":
    sys.exit(main("train", sys.argv[1:]))
