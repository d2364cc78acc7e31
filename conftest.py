"""Project-wide pytest hooks. nbval collection: notebooks that need ../shared/data skip with a clear
reason where it is absent."""

import pytest

from karaoke.paths import shared_data_dir

NEEDS_SHARED = ("00_data", "07_wobble_comparison")


def pytest_collection_modifyitems(config, items):
    if (shared_data_dir() / "harps" / "alpha_cen_b").exists():
        return
    skip = pytest.mark.skip(reason=f"real HARPS data not available at {shared_data_dir()} (../shared/data absent)")
    for item in items:
        if any(name in str(item.fspath) for name in NEEDS_SHARED):
            item.add_marker(skip)
