"""The one scoring path: what each kind of truth allows, the summary and rows it gives, its errors."""

import numpy as np
import pytest

from karaoke.evaluation import METRICS, score, truth_spectra
from karaoke.evaluation.metrics import lowpass_baseline
from karaoke.spectra.survey import Survey


def _survey(rng, n=6, L=3000, **kw):
    w = 6270 + 0.01 * np.arange(L)
    stellar = np.ones((n, L))
    for c in rng.uniform(6271, 6299, 25):
        stellar *= 1 - 0.4 * np.exp(-0.5 * ((w - c) / 0.03) ** 2)
    trans = np.full((n, L), 0.93)
    for c in rng.uniform(6271, 6299, 20):
        trans *= 1 - rng.uniform(0.2, 0.5, (n, 1)) * np.exp(-0.5 * ((w - c) / 0.025) ** 2)
    flux = stellar * trans + 0.002 * rng.standard_normal((n, L))
    return Survey(wave=w, flux=flux, stellar=stellar, transmission=trans, **kw)


def test_exact_truth_scores_the_identity_as_keeping_every_line_and_the_truth_as_perfect(rng):
    """The identity passes both kinds of line (responses 1 and 1) and keeps the tellurics (high
    Qt); returning the exact truth itself scores Qt = Qs = 0 (an independent construction of S~)."""
    s = _survey(rng)
    ident = score(lambda f: f, s, static=True)
    assert ident.truth == "exact" and set(ident.metrics()) == {
        "Qt",
        "Qs",
        "Qt_pseudo",
        "Qs_pseudo",
        "leakage",
        "stellar_response",
        "static_pattern",
    }
    q = ident.summary()
    assert q["leakage"] == pytest.approx(1.0, abs=1e-3) and q["stellar_response"] == pytest.approx(1.0, abs=1e-3)
    assert q["Qt"] > 0.5 and np.isfinite(q["static_pattern"])
    truth = s.stellar * 0.93  # the stellar spectrum times the transmission's slow (line-free) part
    perfect = score(lambda f: f, s, recon=truth.astype(np.float32)).summary()
    assert perfect["Qt"] == pytest.approx(0.0, abs=2e-3) and perfect["Qs"] == pytest.approx(0.0, abs=2e-3)
    assert np.allclose(truth_spectra(s.flux, s.wave, s.transmission, s.stellar), truth, atol=2e-3)


def test_summary_and_rows_use_the_one_vocabulary(rng):
    s = _survey(rng)
    sc = score(lowpass_baseline, s)
    q = sc.summary()
    assert q["n"] == len(s) and q["Qt"] == pytest.approx(float(np.nanmedian(sc.Qt)))
    rows = sc.rows(label="low-pass")
    assert len(rows) == len(s) and rows[2]["label"] == "low-pass" and rows[2]["Qs"] == pytest.approx(sc.Qs[2])
    assert all(k in METRICS for k in rows[0] if k != "label")


def test_a_model_transmission_gives_pseudo_truth_scores_and_no_stellar_response(rng):
    """Real spectra: a fitted transmission stands in for the truth; Qt is against the pseudo-truth,
    the leakage against that transmission, and nothing claims a stellar truth."""
    s = _survey(rng)
    sc = score(lambda f: f, s, transmission=s.transmission)
    assert sc.truth == "pseudo" and sc.stellar_response is None
    assert np.array_equal(sc.Qt, sc.Qt_pseudo)
    assert np.nanmedian(sc.leakage) == pytest.approx(1.0, abs=0.05)  # the identity keeps its tellurics
    # the identity implies no telluric absorption; the star itself implies the transmission (to the noise)
    good = score(lambda f: f, s, transmission=s.transmission, recon=s.stellar.astype(np.float32))
    assert np.nanmedian(good.transmission_rms) < 0.2 * np.nanmedian(sc.transmission_rms)
    none = score(lambda f: f, Survey(wave=s.wave, flux=s.flux))
    assert none.truth == "none" and none.metrics() == () and none.summary() == {"n": len(s)}


def test_bad_requests_say_what_is_missing(rng):
    s = _survey(rng)
    bare = Survey(wave=s.wave, flux=s.flux)
    with pytest.raises(ValueError, match="truth='exact' needs"):
        score(lambda f: f, bare, truth="exact")
    with pytest.raises(ValueError, match="static telluric pattern needs a transmission"):
        score(lambda f: f, bare, static=True)
    with pytest.raises(ValueError, match="BERV"):
        score(lambda f: f, s, templates=(np.ones(s.n_pixels), np.ones(s.flux.shape)))
    with pytest.raises(ValueError, match="shape"):
        score(lambda f: f[:, :10], s)
    with pytest.raises(ValueError, match="truth must be"):
        score(lambda f: f, s, truth="model")
    with pytest.raises(TypeError, match="callable"):
        score(42, s)
