from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_ROWS = 2000  # the bundled example, cut down so the documented commands run fast


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The examples folder as the docs refer to it, with a smaller copy of the data."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    csv = tmp_path / "examples" / "churn" / "churn.csv"
    pl.read_csv(csv).sample(SAMPLE_ROWS, seed=0).write_csv(csv)
    return tmp_path
