"""Suite-wide settings: headless matplotlib, a private numba cache, modest torch threads."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")
