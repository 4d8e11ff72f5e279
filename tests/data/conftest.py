"""Fixtures for the EfficientDL authors' dataset (read from the shared research-data folder).

The file has no licence and is never copied into the project. Its folder is
``$EFFDL_RESEARCH_DATA`` or ``<repo>/../shared/research_data``. When the file is missing the
tests that need it fail under CI (``CI=true``) and are skipped, with the reason, elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from effdl_kit.data import load_efficientdl

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def efficientdl_path() -> Path:
    """Path of the authors' ``dataset.json``; fail under CI, skip elsewhere when absent."""
    base = Path(os.environ.get("EFFDL_RESEARCH_DATA", ROOT.parent / "shared" / "research_data"))
    path = base / "efficientdl" / "dataset.json"
    if not path.is_file():
        msg = (
            f"EfficientDL authors' dataset not found at {path}; set EFFDL_RESEARCH_DATA to the "
            "folder holding efficientdl/dataset.json"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def efficientdl_df(efficientdl_path: Path) -> pd.DataFrame:
    """The cleaned authors' frame (loaded once per session; tests must not mutate it)."""
    return load_efficientdl(efficientdl_path)
