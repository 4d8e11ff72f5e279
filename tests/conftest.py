"""Suite-wide settings and shared fixtures.

* headless matplotlib (Agg);
* the EfficientDL authors' dataset, read from the shared research-data folder: the file has no
  licence and is never copied into the project. Its folder is ``$EFFDL_RESEARCH_DATA`` or
  ``<repo>/../shared/research_data``. When it is missing, the tests that need it fail under CI
  (``CI=true``) and are skipped, with the reason, elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import pandas as pd
import pytest

from effdl_kit.data import load_efficientdl
from effdl_kit.errors import DatasetNotFoundError
from effdl_kit.experiments.efficientdl import efficientdl_data_path


@pytest.fixture(scope="session")
def efficientdl_path() -> Path:
    """Path of the authors' ``dataset.json``; fail under CI, skip elsewhere when absent."""
    try:
        return efficientdl_data_path()
    except DatasetNotFoundError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def efficientdl_df(efficientdl_path: Path) -> pd.DataFrame:
    """The cleaned authors' frame (loaded once per session; tests must not mutate it)."""
    return load_efficientdl(efficientdl_path)
