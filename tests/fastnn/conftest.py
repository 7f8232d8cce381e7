"""Shared setup for the fastnn tests: make ``twins`` (this directory) importable, and import fastnn
first so its thread settings are in place before torch starts an OpenMP runtime."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import fastnn  # noqa: E402,F401
