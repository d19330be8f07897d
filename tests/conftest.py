"""Shared test fixtures: paths to the real Spack-written files in tests/data/."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # shared helpers: testlib

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SPECS = DATA / "specs"
SAVE_LOCAL = DATA / "save-local"
INSTALLS = DATA / "installs"


@pytest.fixture
def data_dir() -> Path:
    """tests/data: copies of real files written by Spack 0.16.3 to 0.22.1."""
    return DATA


@pytest.fixture
def project_root() -> Path:
    return ROOT
