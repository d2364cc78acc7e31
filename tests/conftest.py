"""Shared, seeded fixtures. Real reference data come from ../shared/data (skipped if absent)."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

warnings.filterwarnings("ignore", category=DeprecationWarning)
os.environ.setdefault("MPLBACKEND", "Agg")

from karaoke.synth.generator import SurveyConfig, make_survey  # noqa: E402


def pytest_addoption(parser):
    parser.addoption(
        "--slow",
        action="store_true",
        default=False,
        help="also run the tests marked 'slow' (they train more networks of the converged "
        "presets, a few minutes each on 2 CPU cores, or reuse them from data/cache)",
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(
        reason="trains more networks of a converged preset (~5 min each on 2 CPU cores); run with pytest --slow"
    )
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def small_config():
    return SurveyConfig(n_spectra=96, n_stars=12, seed=7, grid_start=6270.0, n_pixels=1024)


@pytest.fixture(scope="session")
def small_survey(small_config):
    return make_survey(small_config, progress=False)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
