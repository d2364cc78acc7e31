"""Science direction at the ci scale, on held-out stars of the synthetic survey.

These train (or reuse from data/cache) the ci-scale networks that notebooks 02/03 also use.
"""
import numpy as np
import pytest

from karaoke.metrics import PCABaseline, evaluate_reconstruction, line_responses
from karaoke.scales import heldout, scale_model, scale_survey, split_indices


@pytest.fixture(scope="module")
def results():
    survey = scale_survey("ci")
    test, norm = heldout(survey, "ci")
    out = {}
    for n in (30.0, 0.0):
        model = scale_model("ci", max_velocity=n)
        r = model.reconstruct(test.flux)
        out[n] = evaluate_reconstruction(r, test.flux, test.wave, test.transmission, stellar=test.stellar).summary()
        leak, star = line_responses(model.reconstruct, test.flux, test.wave, test.transmission, test.stellar, recon=r)
        out[n].update(leak=float(np.nanmedian(leak)), stellar=float(np.nanmedian(star)))
    train_idx, _ = split_indices(norm, "ci")
    pca = PCABaseline(128).fit(norm.flux[train_idx[:2000]])
    out["pca"] = evaluate_reconstruction(pca.reconstruct(test.flux), test.flux, test.wave, test.transmission,
                                         stellar=test.stellar).summary()
    return out


def test_whitening_lowers_qt(results):
    """Velocity whitening (N = 30 km/s) rejects more tellurics than the topocentric network.

    Measured on the ci preset (10 epochs on 2 CPU cores): Qt 0.40 whitened vs 0.71 topocentric.
    """
    assert results[30.0]["Qt"] < 0.75 * results[0.0]["Qt"]


@pytest.mark.xfail(strict=True, reason="issue target not reached at the ci scale: measured Qt 0.40 vs 0.71 "
                                       "(ratio 0.57) and Qs 1.44")
def test_issue_target_whitened_qt_half_of_topocentric_with_good_qs(results):
    assert results[30.0]["Qt"] <= 0.5 * results[0.0]["Qt"] and results[30.0]["Qs"] <= 0.3


def test_network_rejects_more_tellurics_than_pca(results):
    assert results["pca"]["Qt"] > 0.9  # a linear model with 128 components keeps the tellurics
    assert results[30.0]["Qt"] < 0.8 * results["pca"]["Qt"]


@pytest.mark.xfail(strict=True, reason="at the ci scale neither network responds to the lines of its input: measured "
                                       "stellar response 0.08 (whitened) and 0.05 (topocentric), leakage 0.03 "
                                       "and 0.02; the Qt gap comes from the static telluric pattern of the "
                                       "topocentric output (0.35 of the mean depth; whitened 0.04)")
def test_whitened_network_follows_stellar_lines_and_leaks_fewer_tellurics(results):
    """The paper's mechanism itself, measured with the exact truth: the whitened network's output
    follows the stellar lines of its input (stellar response >= 0.5) and responds at most half as
    much as the topocentric network's to the telluric lines (see metrics.line_responses)."""
    w, t = results[30.0], results[0.0]
    assert w["stellar"] >= 0.5 and w["leak"] <= 0.5 * t["leak"]


def test_regime_preset_is_the_ci_recipe_in_a_window_with_the_papers_telluric_share():
    """The ``regime`` preset (README: whitening halves Qt at equal Qs there, after 100 epochs)
    differs from ``ci`` only in its window and training length; its window's telluric line
    absorption is a paper-like fraction of the stellar one (full HARPS range: 0.14)."""
    from karaoke.metrics import continuum_estimate, telluric_profile
    from karaoke.scales import get_scale
    from karaoke.synth import make_survey

    ci, reg = get_scale("ci"), get_scale("regime")
    assert reg.survey.replace(grid_start=ci.survey.grid_start) == ci.survey
    assert reg.train.replace(epochs=ci.train.epochs) == ci.train and reg.train.epochs == 100
    s = make_survey(reg.survey.replace(n_spectra=12, n_stars=12, seed=3), progress=False)
    tel = (1 - telluric_profile(s.transmission, 0.01)).mean()
    st = np.clip(1 - s.stellar / continuum_estimate(s.stellar, 0.01), 0, None).mean()
    assert 0.05 < tel / st < 0.25


@pytest.fixture(scope="module")
def regime_results():
    """Whitened and topocentric networks of the ``regime`` preset (100 epochs each), scored on its
    held-out stars with every metric (the sweep notebooks' path)."""
    from karaoke.sweeps import run_sweep, summarise

    rows = run_sweep("regime", [{"velocity": 30.0}, {"velocity": 0.0}])
    return {s["velocity"]: {"Qt": s["Qt"], "Qs": s["Qs"], "leak": s["leak"], "stellar": s["stellar_response"],
                            "static": s["static_pattern"]} for s in summarise(rows, by="velocity")}


@pytest.mark.regime
def test_regime_whitening_halves_qt_at_equal_qs(regime_results):
    """Fig. 7's result where the tellurics carry the paper's share of the line absorption
    (README, measured: Qt 0.40 whitened vs 0.96 topocentric, Qs 0.45 vs 0.43)."""
    w, t = regime_results[30.0], regime_results[0.0]
    assert w["Qt"] <= 0.5 * t["Qt"]
    assert w["Qs"] <= t["Qs"] + 0.1


@pytest.mark.regime
def test_regime_networks_follow_stellar_lines_and_only_topocentric_fixes_tellurics(regime_results):
    """The mechanism at this preset: both networks follow the stellar lines of their input; the
    topocentric one also outputs the survey's telluric lines as a fixed pattern, the whitened one
    does not (README, measured: stellar response 0.70 and 0.70, static pattern 0.09 vs 0.73)."""
    w, t = regime_results[30.0], regime_results[0.0]
    assert w["stellar"] >= 0.5 and t["stellar"] >= 0.5
    assert w["static"] <= 0.5 * t["static"]


@pytest.mark.regime
@pytest.mark.xfail(strict=True, reason="issue target Qs <= 0.3 not reached at the regime preset either: measured 0.45 "
                                       "after 100 epochs on CPU")
def test_regime_issue_target_qs(regime_results):
    assert regime_results[30.0]["Qs"] <= 0.3
