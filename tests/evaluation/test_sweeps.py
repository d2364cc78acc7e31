"""Sweep mechanics on a tiny preset: caching, reuse, partial retraining, tidy tables."""

import numpy as np
import pytest

from karaoke import presets
from karaoke.evaluation.sweeps import read_table, run_sweep, summarise, write_table
from karaoke.nn.training import TrainConfig
from karaoke.presets import Preset
from karaoke.synth.generator import SurveyConfig


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    monkeypatch.setenv("KARAOKE_DATA", str(tmp_path))
    sc = Preset(
        "tiny",
        SurveyConfig(n_spectra=60, n_stars=10, seed=1, grid_start=6276.5, n_pixels=512),
        width=0.25,
        train=TrainConfig(epochs=1, batch_size=16, lr=1e-3, kl_weight=0.01, kl_warmup=(0, 2)),
        eval_spectra=20,
    )
    monkeypatch.setitem(presets.PRESETS, "tiny", sc)
    return tmp_path


def _runs(root):
    return sorted(p.name for p in (root / "cache" / "runs").iterdir())


def test_points_are_trained_once_and_reused(tiny):
    pts = [{"velocity": 0, "latent_dim": 4}, {"velocity": 30, "latent_dim": 4}]
    rows = run_sweep("tiny", pts)
    n_test = len({r["spectrum"] for r in rows})
    assert len(rows) == 2 * n_test and {r["label"] for r in rows} == {"VAE-topo-d4", "VAE-V30-d4"}
    assert all(np.isfinite(r["Qt"]) and 0 <= r["Qt"] <= 1 for r in rows)
    runs = _runs(tiny)
    stamps = {p: (tiny / "cache" / "runs" / p / "model.pt").stat().st_mtime_ns for p in runs}
    rows2 = run_sweep("tiny", pts)
    assert [r["Qt"] for r in rows2] == [r["Qt"] for r in rows]  # reused, deterministic inference
    assert stamps == {p: (tiny / "cache" / "runs" / p / "model.pt").stat().st_mtime_ns for p in runs}
    # a changed point (AE instead of VAE) trains only that one
    run_sweep("tiny", [pts[0], {"velocity": 30, "latent_dim": 4, "variational": False}])
    assert len(_runs(tiny)) == 3


def test_summary_and_table_round_trip(tiny, tmp_path):
    rows = run_sweep("tiny", [{"velocity": 30, "latent_dim": 4}])
    s = summarise(rows)
    assert s[0]["label"] == "VAE-V30-d4" and s[0]["Qt"] == pytest.approx(np.median([r["Qt"] for r in rows]))
    path = write_table(rows, tmp_path / "t.csv")
    back = read_table(path)
    assert len(back) == len(rows) and float(back[0]["Qs"]) == pytest.approx(rows[0]["Qs"])


def test_a_point_is_the_same_network_whether_given_as_a_point_or_a_dict():
    """``Point.of`` reads the dict form (fields and TrainConfig overrides as keys); both give one
    training job, and the label names the kind, the whitening level and the code size."""
    from karaoke.presets import Point, preset_jobs

    p = Point.of({"velocity": 0, "latent_dim": 8, "seed": 3})
    assert p == Point(0.0, 8, True, {"seed": 3}) and p.label == "VAE-topo-d8"
    assert Point(5.0, variational=False).label == "AE-V5-d128"
    survey = object()  # preset_jobs only passes the survey through
    (a,), (b,) = (
        preset_jobs("ci", [p], survey),
        preset_jobs("ci", [{"velocity": 0.0, "latent_dim": 8, "seed": 3}], survey),
    )
    assert a[1:] == b[1:] and a[2].seed == 3 and a[2].max_velocity == 0.0 and a[1].latent_dim == 8
    (ae,) = preset_jobs("ci", [Point(30.0, variational=False, train={"kl_weight": 0.5})], survey)
    assert ae[2].kl_weight == 0.0 and not ae[1].variational  # an autoencoder has no KL term
