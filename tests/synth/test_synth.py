import numpy as np

from karaoke.spectra.grid import C_KMS
from karaoke.synth.generator import SurveyConfig, make_survey, stellar_line_list


def test_deterministic_under_a_seed(small_config, small_survey):
    again = make_survey(small_config, progress=False)
    np.testing.assert_array_equal(again.flux, small_survey.flux)
    other = make_survey(small_config.replace(seed=8), progress=False)
    assert not np.allclose(other.flux, small_survey.flux)
    assert small_config.hash() != small_config.replace(seed=8).hash()
    assert SurveyConfig.from_dict(small_config.to_dict()) == small_config


def test_truth_explains_the_observation_to_the_noise(small_survey):
    s = small_survey
    model = s.stellar * s.transmission
    z = (s.flux - model) / np.sqrt(np.clip(model, 1, None))
    # convolution of a product vs product of convolutions differs a little in deep lines
    assert 0.85 < np.std(z) < 1.3 and abs(np.mean(z)) < 0.1


def test_many_distinct_stars_and_realistic_velocities(small_survey):
    m = small_survey.meta
    assert len(np.unique(m["star_id"])) == 12
    assert np.ptp(m["teff"]) > 1000 and m["berv"].min() < -10 and m["berv"].max() > 10
    assert np.all(np.abs(m["berv"]) <= 30) and np.all(m["airmass"] >= 1)
    big = SurveyConfig(n_spectra=400, n_stars=400, n_pixels=64).replace(seed=1)
    rv = make_survey(big, progress=False).meta["rv"]
    assert 20 < np.std(rv) < 80  # a realistic radial-velocity spread (km/s)


def test_telluric_lines_stay_put_while_stellar_lines_move(small_survey):
    s = small_survey
    t = s.transmission
    # transmission minima at fixed pixels for all spectra (topocentric)
    deepest = np.argmin(t, axis=1)
    assert np.ptp(deepest) <= 1
    # deeper with airmass
    d = 1 - t.min(axis=1)
    assert np.corrcoef(d, s.meta["airmass"] * 1.0)[0, 1] > 0.5
    # stellar lines of one star move with RV - BERV between observations
    sid = s.meta["star_id"]
    star = np.bincount(sid).argmax()
    idx = np.flatnonzero(sid == star)
    i, j = idx[np.argmin(s.meta["berv"][idx])], idx[np.argmax(s.meta["berv"][idx])]
    a, b = s.stellar[i] / np.median(s.stellar[i]), s.stellar[j] / np.median(s.stellar[j])
    lags = np.arange(-150, 151)
    cc = [np.corrcoef(np.roll(a, k)[200:-200], b[200:-200])[0, 1] for k in lags]
    expected = -(s.meta["berv"][j] - s.meta["berv"][i]) / C_KMS * s.wave.mean() / 0.01
    assert abs(lags[int(np.argmax(cc))] - expected) <= 2


def test_narrow_stellar_lines_exist():
    """Some stars have lines as narrow as telluric lines (so a low-pass filter cannot explain
    telluric rejection)."""
    cfg = SurveyConfig(n_spectra=40, n_stars=40, n_pixels=2048, seed=3)
    s = make_survey(cfg, progress=False)
    slow = np.flatnonzero(s.meta["vsini"] < 3)
    assert slow.size > 0
    lines = stellar_line_list(cfg.grid_start, cfg.grid_start + 20)
    assert lines["wave"].size > 40 and np.any(lines["k"] > 9)  # cool-star-only lines exist
    st = s.stellar[slow[0]] / np.median(s.stellar[slow[0]])
    core = np.argmin(st)
    half = (1 + st[core]) / 2
    lo = core
    while lo > 0 and st[lo] < half:
        lo -= 1
    hi = core
    while hi < st.size - 1 and st[hi] < half:
        hi += 1
    fwhm_kms = (hi - lo) * 0.01 / s.wave[core] * C_KMS
    assert fwhm_kms < 8  # telluric lines at R=115000 have FWHM ~ 3-5 km/s


def test_survey_cache_is_keyed_by_config_and_telluric_model(tmp_path, monkeypatch):
    import karaoke.synth.telluric as tel
    from karaoke.presets import cached_survey

    monkeypatch.setenv("KARAOKE_DATA", str(tmp_path))
    cfg = SurveyConfig(n_spectra=4, n_stars=2, n_pixels=256, seed=3)
    a = cached_survey(cfg)
    files = sorted((tmp_path / "cache" / "surveys").glob("*.npz"))
    assert len(files) == 1 and tel.model_fingerprint() in files[0].name
    assert np.array_equal(cached_survey(cfg).flux, a.flux)  # reused
    monkeypatch.setattr(tel, "model_fingerprint", lambda: "changed1")
    cached_survey(cfg)  # another line table: regenerated, not reused
    assert len(list((tmp_path / "cache" / "surveys").glob("*.npz"))) == 2


def test_red_line_list_extends_the_blue_one_and_cool_stars_show_the_ca_triplet():
    from karaoke.synth.generator import CA_TRIPLET, _star_rest_spectrum, stellar_line_list

    blue = stellar_line_list(6000.0, 7000.0, 6.0)
    both = stellar_line_list(6000.0, 9000.0, 6.0)
    sel = both["wave"] < 7000.0
    assert np.array_equal(blue["wave"], both["wave"][sel])  # HARPS-range lines untouched
    assert (both["wave"] > 7100).sum() > 1000
    lnw = np.arange(np.log(8400.0), np.log(8700.0), 2.0 / 299792.458)
    lines = stellar_line_list(8390.0, 8710.0, 6.0)
    cool = _star_rest_spectrum(lnw, 2.0, lines, 4500.0, 0.0, 2.0, 1.0)
    hot = _star_rest_spectrum(lnw, 2.0, lines, 6800.0, 0.0, 2.0, 1.0)
    lam = np.exp(lnw)
    for lc in CA_TRIPLET:
        i = np.argmin(np.abs(lam - lc))
        near = np.abs(lam - lc) < 20
        d_cool = cool[i] / np.percentile(cool[near], 95)  # residual intensity at the line centre
        d_hot = hot[i] / np.percentile(hot[near], 95)
        assert d_cool < 0.6 and d_cool < d_hot < 0.95  # a strong line in both, deeper in the cool star


REFERENCE = __import__("pathlib").Path(__file__).parent / "data" / "synth_reference.json"
REF_CONFIG = SurveyConfig(n_spectra=6, n_stars=3, seed=11, grid_start=6270.0, n_pixels=512)


def _reference_values(s) -> dict:
    cols = slice(0, None, 64)
    return {
        "flux": s.flux[:, cols].tolist(),
        "stellar": s.stellar[:, cols].tolist(),
        "transmission": s.transmission[:, cols].tolist(),
        **{k: s.meta[k].tolist() for k in ("berv", "airmass", "pwv", "teff", "rv")},
    }


def test_generator_matches_stored_reference_values_within_a_tolerance():
    """The survey is not bit-identical across CPUs (numpy/scipy pick other SIMD paths for exp,
    log and FFTs), so it is compared with values stored on one machine at a tolerance far above
    float32 rounding and far below any physical change: rtol 1e-4 (flux, truth), 1e-9 (the
    per-spectrum parameters, drawn from the seeded generator). Regenerate after an intended
    change of the generator with KARAOKE_UPDATE_REFERENCE=1 (and bump SYNTH_VERSION)."""
    import json
    import os

    values = _reference_values(make_survey(REF_CONFIG, progress=False))
    if os.environ.get("KARAOKE_UPDATE_REFERENCE") == "1":
        REFERENCE.write_text(json.dumps({"config": REF_CONFIG.to_dict(), **values}, indent=0) + "\n")
    ref = json.loads(REFERENCE.read_text())
    assert SurveyConfig.from_dict(ref["config"]) == REF_CONFIG
    for key in ("flux", "stellar", "transmission"):
        np.testing.assert_allclose(values[key], ref[key], rtol=1e-4, atol=1e-6, err_msg=key)
    for key in ("berv", "airmass", "pwv", "teff", "rv"):
        np.testing.assert_allclose(values[key], ref[key], rtol=1e-9, err_msg=key)
