"""The paper's claims on held-out stars of the synthetic survey (exact truth).

At ``ci`` (the networks notebooks 02-06 use in nbval: the regime survey and recipe cut to 8
epochs, partly trained) only what holds for every seed is asserted. The claims themselves -- whitening halves Qt, both
networks follow the stellar lines, only the topocentric one outputs a fixed telluric pattern,
the whitened one reconstructs the stars -- are asserted at ``regime``, the converged recipe in
a window with the paper's telluric share. Networks are trained once and cached in data/cache.
"""

import numpy as np
import pytest

from karaoke.evaluation.claims import QS_MAX, QT_RATIO_MAX, STATIC_RATIO_MAX, STELLAR_RESPONSE_MIN, check_claims
from karaoke.evaluation.metrics import PCABaseline, evaluate_reconstruction
from karaoke.nn.pool import other_float_path
from karaoke.presets import heldout, preset_models, preset_survey, split_indices

#: Training seeds on which the ci results are checked here. ``benchmarks/spread.py --preset ci``
#: (seeds 0-2 and seed 0 on one thread, on a 2-core AMD EPYC; docs/results/spread_ci.csv)
#: measured how far the ci networks' scores spread: 8 epochs are too few to follow the stellar
#: lines (stellar response ~0.1 whitened, 0.06-0.45 topocentric), so no claim on Qs or the
#: responses holds there; those are checked at ``regime`` below. What holds in 4 of 4 runs with
#: a margin: whitening removes the fixed telluric pattern (whitened 0.055-0.071 against
#: 0.42-0.49 topocentric) and lowers Qt (whitened / topocentric 0.74-0.83).
CI_SEEDS = (0, 1)


@pytest.fixture(scope="module", params=CI_SEEDS, ids=lambda s: f"seed{s}")
def results(request):
    from karaoke.evaluation.sweeps import score_model, summarise

    survey = preset_survey("ci")
    test, norm = heldout(survey, "ci")
    out = {}
    models = preset_models("ci", [{"velocity": n, "seed": request.param} for n in (30.0, 0.0)], survey=survey)
    for n, model in zip((30.0, 0.0), models):
        (out[n],) = summarise(score_model(model, test, label=f"N={n:g}"))
    train_idx, _ = split_indices(norm, "ci")
    pca = PCABaseline(128).fit(norm.flux[train_idx[:2000]])
    out["pca"] = evaluate_reconstruction(
        pca.reconstruct(test.flux), test.flux, test.wave, test.transmission, stellar=test.stellar
    ).summary()
    return out


def test_whitening_removes_the_fixed_telluric_pattern(results):
    """The topocentric network outputs the survey's telluric lines at their fixed wavelengths even
    for a telluric-free input; whitening removes most of that pattern (4 of 4 seed/thread runs
    at ci: 0.055-0.071 whitened against 0.42-0.49 topocentric)."""
    assert results[30.0]["static_pattern"] <= STATIC_RATIO_MAX * results[0.0]["static_pattern"]
    assert results[0.0]["static_pattern"] > 0.1


def test_whitening_lowers_qt_even_partly_trained(results):
    """Whitened / topocentric Qt was 0.74-0.83 in 4 of 4 seed/thread runs at ci."""
    assert results[30.0]["Qt"] <= 0.9 * results[0.0]["Qt"]


def test_pca_keeps_the_tellurics(results):
    """A linear model with 128 components reconstructs the tellurics with the stars (Qt ~ 1)."""
    assert results["pca"]["Qt"] > 0.9


def test_regime_presets_sit_in_windows_with_the_papers_telluric_share():
    """The windows whose claims are tested below (and that make figures runs) carry a paper-like
    share of telluric line absorption against the stellar one (full HARPS range in this
    universe: 0.14; the o2-head hard case: 0.94), measured on a few spectra of each; ci is the
    regime survey and recipe cut short."""
    from karaoke.evaluation.metrics import continuum_estimate, telluric_profile
    from karaoke.presets import get_preset
    from karaoke.synth.generator import make_survey

    o2, h2o = get_preset("regime"), get_preset("regime-h2o")
    for preset, lo, hi in ((o2, 0.08, 0.16), (h2o, 0.12, 0.25)):
        s = make_survey(preset.survey.replace(n_spectra=12, n_stars=12, seed=3), progress=False)
        tel = (1 - telluric_profile(s.transmission, 0.01)).mean()
        st = np.clip(1 - s.stellar / continuum_estimate(s.stellar, 0.01), 0, None).mean()
        assert lo < tel / st < hi, (preset.name, tel / st)
    ci = get_preset("ci")
    assert ci.survey == o2.survey and ci.train == o2.train.replace(epochs=ci.train.epochs, lr=ci.train.lr)
    assert ci.train.epochs < o2.train.epochs


def _claims(preset, float_path="native"):
    from karaoke.evaluation.sweeps import run_sweep, summarise

    rows = run_sweep(preset, [{"velocity": 30.0}, {"velocity": 0.0}], float_path=float_path)
    return {s["velocity"]: s for s in summarise(rows, by="velocity")}


#: The float paths the regime pair is trained on here: this CPU's own kernels and another CPU's
#: (AVX2, or ATen's scalar kernels where AVX2 is native; karaoke.nn.pool.FLOAT_PATHS), so that a
#: green run means the claims held on two float paths, not one.
REGIME_PATHS = ("native", other_float_path())


@pytest.fixture(scope="module", params=REGIME_PATHS)
def regime_results(request):
    """Whitened and topocentric networks of the ``regime`` preset (the converged recipe in the O2
    window, with its collapse guard), trained on one float path and scored on its 200 held-out
    spectra of 24 stars with the exact truth. Seed 0. How the claims hold across seeds, thread
    counts and float paths: ``benchmarks/robustness.py`` (docs/results/robustness_regime_preset.csv)."""
    return _claims("regime", request.param)


def test_whitening_halves_qt(regime_results):
    """Fig. 7's result: whitened Qt <= 1/2 topocentric."""
    w, t = regime_results[30.0], regime_results[0.0]
    assert w["Qt"] <= QT_RATIO_MAX * t["Qt"]


def test_both_networks_follow_the_stellar_lines(regime_results):
    """The mechanism: both networks reconstruct the stellar lines of their input (stellar
    response >= 0.6, metrics.line_responses)."""
    w, t = regime_results[30.0], regime_results[0.0]
    assert w["stellar_response"] >= STELLAR_RESPONSE_MIN and t["stellar_response"] >= STELLAR_RESPONSE_MIN


def test_only_the_topocentric_network_outputs_a_fixed_telluric_pattern(regime_results):
    w, t = regime_results[30.0], regime_results[0.0]
    assert w["static_pattern"] <= STATIC_RATIO_MAX * t["static_pattern"]


def test_whitened_network_reconstructs_the_stars(regime_results):
    """Qs <= 0.35 for the whitened network (median over held-out spectra, exact truth)."""
    assert regime_results[30.0]["Qs"] <= QS_MAX


@pytest.mark.slow
def test_claims_hold_in_an_h2o_window_too():
    """All four claims in the H2O window (6540-6581 A; KL weight 1.0 with the gradient norm clipped,
    ``CONVERGED_H2O``, and a full-width network): opt-in (``pytest --slow``), two more networks.
    Measured (``benchmarks/science.py --preset regime-h2o``, seed 0,
    docs/results/science_regime-h2o.csv): whitened Qt 0.37 against 1.00, stellar responses 0.83 /
    0.78, static 0.02 against 0.14, whitened Qs 0.31 (seed 1's whitened network: Qt 0.37, Qs
    0.34). At width 0.5 Qs was 0.38 and the static pattern at the 1/2 threshold (0.03 against 0.06)."""
    r = _claims("regime-h2o")
    held = check_claims(r[30.0], r[0.0])
    assert all(held.values()), held
