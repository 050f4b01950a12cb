"""Shared test fixtures.

Tests that need the real datasets in ``../shared/datasets`` use the ``shared_datasets`` fixture (or the
``needs_shared`` marker) and are skipped cleanly when that folder is absent (e.g. on a user's machine).
"""

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = Path(os.environ.get("TAXOCLASS_SHARED", REPO.parent / "shared")) / "datasets"

needs_shared = pytest.mark.skipif(not SHARED_DATASETS.is_dir(),
                                  reason=f"{SHARED_DATASETS} not present (real datasets are optional)")


@pytest.fixture
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"{SHARED_DATASETS} not present")
    return SHARED_DATASETS


@pytest.fixture
def repo_root() -> Path:
    return REPO
