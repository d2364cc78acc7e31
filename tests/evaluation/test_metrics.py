import numpy as np
import pytest

from karaoke.evaluation.metrics import (
    MetricConfig,
    PCABaseline,
    continuum_estimate,
    evaluate_reconstruction,
    line_responses,
    lowpass_baseline,
    pseudo_truth,
    quality,
    static_telluric_pattern,
    telluric_leakage,
    telluric_mask,
    telluric_profile,
)


def _toy(rng, n=5, L=3000):
    w = 6270 + 0.01 * np.arange(L)
    stellar = np.ones((n, L))
    for c in rng.uniform(6271, 6299, 25):
        stellar *= 1 - 0.4 * np.exp(-0.5 * ((w - c) / 0.03) ** 2)
    trans = np.full((n, L), 0.93)  # slow (Rayleigh-like) absorption ...
    for c in rng.uniform(6271, 6299, 20):  # ... plus telluric lines
        trans *= 1 - rng.uniform(0.2, 0.5, (n, 1)) * np.exp(-0.5 * ((w - c) / 0.025) ** 2)
    flux = stellar * trans + 0.002 * rng.standard_normal((n, L))
    return w, stellar, trans, flux


def test_profile_removes_the_slow_continuum_and_mask_marks_lines(rng):
    w, stellar, trans, flux = _toy(rng)
    prof = telluric_profile(trans, 0.01)
    assert np.median(prof) == pytest.approx(1.0, abs=1e-3)  # continuum 0.93 removed
    m = telluric_mask(prof, MetricConfig(depth_threshold=0.01))
    deep = trans / 0.93 < 0.9
    assert m[deep].all() and m.mean() < 0.5


def test_qt_qs_limits(rng):
    w, stellar, trans, flux = _toy(rng)
    exact = stellar * 0.93
    ev_id = evaluate_reconstruction(flux, flux, w, trans, stellar=stellar)
    assert np.allclose(ev_id.qt, 1.0)  # doing nothing: Qt = 1
    ev_perfect = evaluate_reconstruction(exact, flux, w, trans, stellar=stellar)
    assert np.all(ev_perfect.qt < 1e-6) and np.all(ev_perfect.qs < 1e-6)
    cont = continuum_estimate(ev_perfect.truth, 0.01)
    ev_cont = evaluate_reconstruction(cont, flux, w, trans, stellar=stellar)
    assert np.allclose(ev_cont.qs, 1.0, atol=1e-6)  # rejecting every stellar line: Qs = 1
    worse = flux + 2 * (flux - exact)  # tellurics amplified: clipped to 1
    assert np.all(evaluate_reconstruction(worse, flux, w, trans, stellar=stellar).qt == 1.0)


def test_pseudo_truth_recovers_the_stellar_spectrum(rng):
    w, stellar, trans, flux = _toy(rng)
    prof = telluric_profile(trans, 0.01)
    st = pseudo_truth(flux, prof)
    err_pt = np.median(np.abs(st - stellar * 0.93))
    err_in = np.median(np.abs(flux - stellar * 0.93)[telluric_mask(prof) > 0])
    assert err_pt < 0.01 and err_pt < 0.2 * err_in


def test_quality_handles_empty_masks():
    qt, qs = quality(np.ones(10), np.ones(10), np.ones(10), np.zeros(10), np.ones(10), np.ones(10))
    assert np.isnan(qt[0]) and np.isnan(qs[0])


def test_baselines(rng):
    w, stellar, trans, flux = _toy(rng, n=40, L=600)
    p = PCABaseline(5).fit(flux)
    r = p.reconstruct(flux)
    assert r.shape == flux.shape and np.mean(np.abs(r - flux)) < np.mean(np.abs(flux - flux.mean(0)))
    with pytest.raises(RuntimeError):
        PCABaseline(3).reconstruct(flux)
    with pytest.raises(ValueError):
        PCABaseline(0)
    lp = lowpass_baseline(flux, 4.0)
    assert lp.shape == flux.shape and np.std(np.diff(lp, axis=1)) < np.std(np.diff(flux, axis=1))


def test_line_responses_separate_kept_tellurics_from_missed_stellar_lines(rng):
    w, stellar, trans, flux = _toy(rng)
    resp = lambda f: line_responses(f, flux, w, trans, stellar)  # noqa: E731
    for a in resp(lambda x: x):  # identity: every line of both kinds passes
        np.testing.assert_allclose(a, 1.0, rtol=1e-6)
    for a in resp(lambda x: np.ones_like(x) * 0.93):  # ignores its input
        np.testing.assert_allclose(a, 0.0, atol=1e-12)
    # a continuum-only output misses every stellar line, so its Qt is well above 0, yet no
    # telluric line of the input reaches it: the responses tell the two apart
    assert evaluate_reconstruction(np.full_like(flux, 0.93), flux, w, trans, stellar=stellar).summary()["Qt"] > 0.2
    # an ideal blind remover (played by a lookup that knows the answer): telluric lines go,
    # stellar lines stay, whatever the input holds -- leakage 0, stellar response 1
    prof = np.clip(telluric_profile(trans, 0.01), 0.05, None)
    clean = flux / prof

    def ideal(x):
        return x if np.allclose(x, clean, atol=1e-5) else x / prof

    leak, star = resp(ideal)
    np.testing.assert_allclose(leak, 0.0, atol=1e-5)
    np.testing.assert_allclose(star, 1.0, atol=0.02)
    lp4, lp12 = resp(lambda x: lowpass_baseline(x, 4.0)), resp(lambda x: lowpass_baseline(x, 12.0))
    given = line_responses(
        lambda x: lowpass_baseline(x, 4.0), flux, w, trans, stellar, recon=lowpass_baseline(flux, 4.0)
    )
    for x, y in zip(given, lp4):  # a reconstruction the caller already has is used as is
        np.testing.assert_allclose(x, y, rtol=1e-6)
    assert np.all((lp4[0] > 0.05) & (lp4[0] < 0.95)) and np.all(lp4[0] > lp12[0]) and np.all(lp4[1] > lp12[1])
    # the telluric half alone, for data with a telluric model but no stellar truth: the same numbers
    np.testing.assert_allclose(telluric_leakage(ideal, flux, w, trans), leak, rtol=1e-12)
    np.testing.assert_allclose(telluric_leakage(lambda x: lowpass_baseline(x, 4.0), flux, w, trans), lp4[0], rtol=1e-12)


def test_pca_fitted_on_telluric_free_spectra_leaks_less(small_survey):
    norm, _ = small_survey.normalised()
    flux, wave, trans = norm.flux, norm.wave, norm.transmission
    slow = trans / telluric_profile(trans, norm.grid.step)
    observed_pca = PCABaseline(8).fit(flux)
    clean_pca = PCABaseline(8).fit(norm.stellar * slow)
    lo = np.nanmedian(line_responses(clean_pca.reconstruct, flux, wave, trans, norm.stellar)[0])
    hi = np.nanmedian(line_responses(observed_pca.reconstruct, flux, wave, trans, norm.stellar)[0])
    assert hi > 0.8 and lo < 0.5 * hi


def test_static_telluric_pattern_sees_what_the_responses_cannot(small_survey):
    norm, _ = small_survey.normalised()
    flux, wave, trans = norm.flux, norm.wave, norm.transmission
    mean_observed = np.asarray(flux).mean(0)

    def template(x):  # outputs the survey's mean observed spectrum, whatever the input
        return np.broadcast_to(mean_observed, x.shape)

    amp = static_telluric_pattern(template, flux, wave, trans)
    assert 0.7 < amp < 1.3
    leak, _ = line_responses(template, flux, wave, trans, norm.stellar)
    np.testing.assert_allclose(leak, 0.0, atol=1e-12)  # blind to it
    assert abs(static_telluric_pattern(lambda x: x, flux, wave, trans)) < 0.1  # the identity adds none


def test_transmission_rms_is_the_noise_for_a_perfect_reconstruction_and_the_depth_for_none():
    """flux = S T (1 + n): with recon = S the estimate's error is T n (RMS ~ sigma T over the
    lines); with recon = flux (a model that keeps the tellurics) the estimate is 1 and the RMS is
    that of the line depths 1 - T."""
    from karaoke.evaluation.metrics import transmission_rms

    rng = np.random.default_rng(4)
    x = np.arange(2000)
    T = np.ones(2000)
    for c in range(100, 2000, 150):
        T *= 1 - 0.4 * np.exp(-0.5 * ((x - c) / 3.0) ** 2)
    S = 1 - 0.3 * np.exp(-0.5 * ((x - 60) / 4.0) ** 2) * np.ones((8, 1))
    sigma = 0.01
    flux = S * T * (1 + sigma * rng.standard_normal((8, 2000)))
    lines = T < 0.99
    got = transmission_rms(flux, S, np.tile(T, (8, 1)))
    want = sigma * np.sqrt(np.mean(T[lines] ** 2))
    assert np.allclose(got, want, rtol=0.1)
    keep = transmission_rms(flux, flux, np.tile(T, (8, 1)))
    assert np.allclose(keep, np.sqrt(np.mean((1 - T[lines]) ** 2)), rtol=1e-9)
    mask = np.ones_like(flux)
    mask[:, lines] = 0
    assert np.isnan(transmission_rms(flux, S, np.tile(T, (8, 1)), pixmask=mask)).all()
    with pytest.raises(ValueError, match="one shape"):
        transmission_rms(flux, S[:, :10], T)
