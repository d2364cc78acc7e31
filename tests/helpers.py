"""Helpers shared by the tests (fixtures live in the conftest.py files)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from karaoke.nn.checkpoint import save_model
from karaoke.nn.model import Karaoke, ModelConfig
from karaoke.nn.whitening import mask_ranges
from karaoke.paths import shared_data_dir


def load_script(relpath: str, name: str | None = None):
    """A script of benchmarks/ or tools/ (no packages) loaded as a module, named ``name``
    (default ``script_<its stem>``)."""
    import importlib.util

    from karaoke.paths import ROOT

    path = ROOT / relpath
    spec = importlib.util.spec_from_file_location(name or f"script_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


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


def untrained_net(n_pixels: int = 1024, latent_dim: int = 8, seed: int | None = None, **kw) -> Karaoke:
    """A small untrained network (width 0.25 unless ``width`` is given), seeded when ``seed`` is."""
    if seed is not None:
        torch.manual_seed(seed)
    return Karaoke(ModelConfig.scaled(n_pixels, latent_dim, width=kw.pop("width", 0.25), **kw))


def save_untrained_model(path, grid, seed: int, guard_edge: int = 0, **meta):
    """An untrained network on ``grid`` saved as a finished, self-describing model at ``path``
    (for the product and CLI machinery, which does not need a good reconstruction): topocentric,
    air, its input guard 0 on ``guard_edge`` pixels at each end, ``meta`` added."""
    net = untrained_net(grid.n, seed=seed)
    net.input_guard = np.ones(grid.n, np.float32)
    if guard_edge:
        net.input_guard[:guard_edge] = net.input_guard[-guard_edge:] = 0
    save_model(
        net,
        path,
        grid=grid.to_dict(),
        frame="topocentric",
        medium="air",
        input_guard=mask_ranges(net.input_guard),
        **meta,
    )
    return path
