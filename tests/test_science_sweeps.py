"""Section 5 science checks at the ci scale (held-out stars, exact truth).

They train, or reuse from data/cache, the networks of notebooks 04-06 (same cache keys).
Numbers measured on the 2-core CI machine when written (training version 2, guard band):
Qt = 0.71, 0.62, 0.47, 0.40 for N = 0, 5, 15, 30 km/s (Qs 1.07, 1.23, 1.34, 1.44; static
telluric pattern 0.35, 0.23, 0.09, 0.04); latent 8/32/128/512/1024: Qt 0.41/0.96/0.40/1.00/0.38,
Qs 1.28/1.25/1.44/0.92/1.19, leakage 0.00/0.82/0.03/0.83/0.04; AE Qt 0.94 Qs 0.83 (leakage 0.99)
vs VAE Qt 0.40 Qs 1.44 (leakage 0.03).
"""
import pytest

from karaoke.sweeps import run_sweep, summarise

#: Qs of the whitened network may exceed the topocentric one's by at most this much at ci scale
#: (measured +0.37; the paper finds no significant difference after full training).
QS_TOLERANCE = 0.6


def _medians(points, by="label"):
    return {s[by]: s for s in summarise(run_sweep("ci", points), by=by)}


@pytest.fixture(scope="module")
def whitening():
    return _medians([{"velocity": v} for v in (0, 5, 15, 30)])


def test_qt_falls_as_the_whitening_level_rises(whitening):
    qt = [whitening[k]["Qt"] for k in ("VAE-topo-d128", "VAE-V5-d128", "VAE-V15-d128", "VAE-V30-d128")]
    assert qt[0] > qt[2] > qt[3]
    assert qt[0] >= 1.4 * qt[3]  # the target is 2x; 1.8x is measured at this scale
    assert whitening["VAE-V30-d128"]["Qs"] <= whitening["VAE-topo-d128"]["Qs"] + QS_TOLERANCE


@pytest.mark.xfail(strict=True, reason="2x target not reached at the ci scale: measured 1.8x (0.71 vs 0.40)")
def test_topocentric_qt_is_twice_the_whitened(whitening):
    assert whitening["VAE-topo-d128"]["Qt"] >= 2 * whitening["VAE-V30-d128"]["Qt"]


@pytest.fixture(scope="module")
def compression():
    return _medians([{"latent_dim": d} for d in (8, 32, 128, 512, 1024)], by="latent_dim")


@pytest.mark.xfail(strict=True, reason="not reproduced in 10 CPU epochs: 512 keeps the tellurics (Qt 1.00, leakage "
                                       "0.83) but 1024 does not (Qt 0.38, leakage 0.04), like 32 (0.96) and 128 "
                                       "(0.40): which networks follow their input depends on the run, not the size")
def test_large_latent_spaces_reconstruct_tellurics(compression):
    assert compression[512]["Qt"] > compression[128]["Qt"] and compression[1024]["Qt"] > compression[128]["Qt"]


@pytest.mark.xfail(strict=True, reason="not reproduced in 10 CPU epochs: no network reconstructs stellar lines "
                                       "well yet (Qs 0.9-1.5 at every latent size)")
def test_smallest_latent_space_loses_stellar_lines(compression):
    assert compression[8]["Qs"] == max(s["Qs"] for s in compression.values())


def test_ae_reconstructs_better_but_rejects_fewer_tellurics():
    m = _medians([{"variational": False}, {"variational": True}])
    ae, vae = m["AE-V30-d128"], m["VAE-V30-d128"]
    assert ae["Qs"] < vae["Qs"]
    assert vae["Qt"] < 0.7 * ae["Qt"]
