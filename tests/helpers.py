"""Helpers shared by the tests (fixtures live in the conftest.py files)."""

from __future__ import annotations

import json

import pytest

from karaoke.paths import shared_data_dir


def shared(*parts):
    """Path inside ../shared/data, or skip the test with the reason."""
    base = shared_data_dir()
    path = base.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data {path} not available (../shared/data is absent on this machine)")
    return path


def last_json(capsys) -> dict:
    """The JSON object on the last line a CLI command printed."""
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])
