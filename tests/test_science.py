"""Science direction at the ci scale, on held-out stars of the synthetic survey.

These train (or reuse from data/cache) the ci-scale networks that notebooks 02/03 also use.
"""
import numpy as np
import pytest

from karaoke.metrics import PCABaseline, evaluate_reconstruction
from karaoke.scales import heldout, scale_model, scale_survey, split_indices


#: Training seeds on which the ci claims are checked here. ``benchmarks/spread.py`` (seeds 0-2
#: and seed 0 on one thread, on a 2-core AMD EPYC) measured how far the ci networks' scores
#: spread: Qt up to 0.6 between seeds (seed 1's whitened network keeps the tellurics, Qt 0.99
#: against 0.78 topocentric), so at ci no claim on Qt, Qs or the AE/VAE order holds for every
#: seed; those are checked at a preset trained to convergence below. What holds in 4 of 4 runs,
#: by a factor >= 7, is that whitening removes the fixed telluric pattern.
CI_SEEDS = (0, 1)


@pytest.fixture(scope="module", params=CI_SEEDS, ids=lambda s: f"seed{s}")
def results(request):
    from karaoke.sweeps import score_model, summarise

    survey = scale_survey("ci")
    test, norm = heldout(survey, "ci")
    out = {}
    for n in (30.0, 0.0):
        model = scale_model("ci", max_velocity=n, survey=survey, seed=request.param)
        (out[n],) = summarise(score_model(model, test, label=f"N={n:g}"))
    train_idx, _ = split_indices(norm, "ci")
    pca = PCABaseline(128).fit(norm.flux[train_idx[:2000]])
    out["pca"] = evaluate_reconstruction(pca.reconstruct(test.flux), test.flux, test.wave, test.transmission,
                                         stellar=test.stellar).summary()
    return out


def test_whitening_removes_the_fixed_telluric_pattern(results):
    """The topocentric network outputs the survey's telluric lines at their fixed wavelengths even
    for a telluric-free input; whitening removes most of that pattern (4 of 4 seed/thread runs
    at ci: 0.005-0.048 whitened against 0.35-0.66 topocentric)."""
    assert results[30.0]["static_pattern"] <= 0.5 * results[0.0]["static_pattern"]
    assert results[0.0]["static_pattern"] > 0.1


def test_pca_keeps_the_tellurics(results):
    """A linear model with 128 components reconstructs the tellurics with the stars (Qt ~ 1)."""
    assert results["pca"]["Qt"] > 0.9


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
