"""`python -m medl.apps.infer`: Clara's entry point, run by `clara` (see medl.apps.translate)."""

from __future__ import annotations

import sys

from medl.apps.translate import main

if __name__ == "__main__":
    sys.exit(main("infer", sys.argv[1:]))
