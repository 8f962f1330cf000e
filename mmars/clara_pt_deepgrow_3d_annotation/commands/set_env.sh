#!/usr/bin/env bash
# Sourced by the other scripts: MMAR_ROOT is the folder above commands/, custom/ is importable.
MMAR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export MMAR_ROOT
export PYTHONPATH="$MMAR_ROOT/custom${PYTHONPATH:+:$PYTHONPATH}"
