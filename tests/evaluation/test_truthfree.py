"""Truth-free responses (karaoke.evaluation.truthfree) against the exact, truth-based ones."""

import numpy as np
import pytest

from karaoke.evaluation.metrics import PCABaseline, continuum_estimate, line_responses, telluric_profile
from karaoke.evaluation.truthfree import RANK_CONFIG, line_templates, rank_networks, self_responses
from karaoke.synth.generator import SurveyConfig, make_survey


@pytest.fixture(scope="module")
def survey():
    """240 spectra of 24 stars, 2048 px at 6315 A (O2 tail and stellar lines), normalised."""
    s = make_survey(SurveyConfig(n_spectra=240, n_stars=24, n_pixels=2048, grid_start=6315.0, seed=5), progress=False)
    norm, _ = s.normalised()
    return norm


def _args(s):
    return s.flux, s.wave, s.meta["berv"], s.meta["star_id"]


def test_templates_recover_the_true_telluric_and_stellar_lines(survey):
    tell, star = line_templates(*_args(survey))
    assert tell.shape == (survey.n_pixels,) and star.shape == survey.flux.shape
    truth_t = telluric_profile(survey.transmission, 0.01).mean(0)
    truth_s = survey.stellar / continuum_estimate(survey.stellar, 0.01)
    inner = slice(100, -100)  # the edges are partly outside some shifted spectra
    assert np.corrcoef(1 - tell[inner], 1 - truth_t[inner])[0, 1] > 0.95
    assert np.corrcoef((1 - star[:, inner]).ravel(), (1 - truth_s[:, inner]).ravel())[0, 1] > 0.95
    # the line depths, not only their places: total depth within 50 % of the truth
    assert 0.7 < (1 - tell[inner]).sum() / (1 - truth_t[inner]).sum() < 1.5


def test_identity_and_constant_methods_give_the_limits(survey):
    leak, star = self_responses(lambda x: x, *_args(survey))
    assert np.allclose(np.nanmedian(leak), 1.0) and np.allclose(np.nanmedian(star), 1.0)
    leak, star = self_responses(lambda x: np.ones_like(x), *_args(survey))
    assert np.nanmax(leak) == 0 and np.nanmax(star) == 0


def test_responses_of_pca_match_the_truth_based_ones(survey):
    """PCA of few and of many components: the truth-free medians within 0.06 of the exact ones
    (the same mask depth; templates from the whole survey, the held-out stars' rows used), and in
    the same order (more components follow more of the tellurics)."""
    train, test = survey.split(0.3)
    tr, te = survey.subset(train), survey.subset(test)
    tell, star = line_templates(*_args(survey), RANK_CONFIG)
    got = {}
    for k in (4, 48):
        pca = PCABaseline(k).fit(tr.flux)
        lk, st = line_responses(pca.reconstruct, te.flux, te.wave, te.transmission, te.stellar, cfg=RANK_CONFIG)
        lk2, st2 = self_responses(pca.reconstruct, *_args(te), RANK_CONFIG, templates=(tell, star[test]))
        got[k] = (np.nanmedian(lk2), np.nanmedian(st2))
        assert abs(np.nanmedian(lk2) - np.nanmedian(lk)) < 0.06, k
        assert abs(np.nanmedian(st2) - np.nanmedian(st)) < 0.06, k
    assert got[48][0] > got[4][0] + 0.3 and got[48][1] > got[4][1] + 0.3


def test_ranking_follows_the_truth_based_separation(survey):
    """Candidates ranked without truth come in the order of their exact separation (stellar
    response minus leakage); one with no stellar response goes last whatever its leakage."""
    train, test = survey.split(0.3)
    tr, te = survey.subset(train), survey.subset(test)
    cands = {f"pca{k}": PCABaseline(k).fit(tr.flux).reconstruct for k in (2, 8, 48)}
    cands["flat"] = lambda x: np.ones_like(x)
    exact = {}
    for label, f in cands.items():
        lk, st = line_responses(f, te.flux, te.wave, te.transmission, te.stellar, cfg=RANK_CONFIG)
        exact[label] = (np.nanmedian(st) < 0.6, -(np.nanmedian(st) - np.nanmedian(lk)))
    tell, star = line_templates(*_args(survey), RANK_CONFIG)
    rows = rank_networks(cands, *_args(te), templates=(tell, star[test]))
    assert [r["label"] for r in rows] == sorted(exact, key=exact.get)
    assert rows[-1]["label"] == "flat" and rows[-1]["stellar_response"] == 0
    assert all(r["separation"] == pytest.approx(r["stellar_response"] - r["leakage"]) for r in rows)


def test_a_subset_of_one_berv_is_scored_with_the_templates_of_a_larger_set(survey):
    """The held-out part may be one exposure: the BERV range is needed only to make templates."""
    tell, star = line_templates(*_args(survey), RANK_CONFIG)
    one = survey.subset([0])
    leak, st = self_responses(lambda x: x, *_args(one), RANK_CONFIG, templates=(tell, star[[0]]))
    np.testing.assert_allclose([leak[0], st[0]], 1.0)
    with pytest.raises(ValueError, match="BERV"):
        self_responses(lambda x: x, *_args(one), RANK_CONFIG)


def test_bad_inputs_are_named(survey):
    f, w, b, s = _args(survey)
    with pytest.raises(ValueError, match="BERV"):
        line_templates(f, w, np.zeros_like(b), s)
    with pytest.raises(ValueError, match="one BERV and one star id"):
        line_templates(f, w, b[:-1], s)
    with pytest.raises(ValueError, match="wavelengths"):
        line_templates(f[:, :-1], w, b, s)


def test_padding_and_gaps_are_no_lines():
    """Zero flux outside the data range (an archive's padding, a CCD gap) read as lines 100 %
    deep would bias the estimates (PCA of 4 components: leakage 0.25 against 0.11 exact without
    the mask); with the pixel mask they are left out and the estimates stay within 0.04 of the
    exact responses inside the data."""
    import dataclasses

    s = make_survey(
        SurveyConfig(n_spectra=240, n_stars=24, n_pixels=2048, grid_start=6315.0, seed=5, data_range=(6318.0, 6332.0)),
        progress=False,
    )
    norm, _ = s.normalised()
    m = norm.pixel_mask()
    assert 500 < (m[0] == 0).sum() < 800
    flux = np.where(m > 0, norm.flux, 0.0).astype(np.float32)  # as `karaoke prepare` stores it
    cfg = dataclasses.replace(RANK_CONFIG, roi=(6318.5, 6331.5))
    train, test = norm.split(0.3)
    args = (flux, norm.wave, norm.meta["berv"], norm.meta["star_id"])
    tell, star = line_templates(*args, cfg, mask=m)
    assert np.all(star[m == 0] == 1.0) and np.all(tell[m[0] == 0] == 1.0)  # no lines where there are no data
    te = norm.subset(test)
    sub = (flux[test], norm.wave, norm.meta["berv"][test], norm.meta["star_id"][test])
    for k in (4, 48):
        pca = PCABaseline(k).fit(flux[train])
        lk, st = line_responses(pca.reconstruct, flux[test], te.wave, te.transmission, te.stellar, cfg=cfg)
        lk2, st2 = self_responses(pca.reconstruct, *sub, cfg, templates=(tell, star[test]), mask=m[test])
        assert abs(np.nanmedian(lk2) - np.nanmedian(lk)) < 0.04, k
        assert abs(np.nanmedian(st2) - np.nanmedian(st)) < 0.04, k
    ranked = rank_networks({k: PCABaseline(k).fit(flux[train]).reconstruct for k in (4, 48)}, *sub, cfg, mask=m[test])
    assert {r["label"] for r in ranked} == {4, 48}
    with pytest.raises(ValueError, match="mask"):
        line_templates(*args, cfg, mask=m[:, :10])


def test_responses_in_chunks_are_the_responses_of_each_spectrum(survey):
    """Probing a few spectra at a time (the memory bound at 327680 px) gives each spectrum the
    response it gets alone: chunks of 7 (not a divisor of 240) equal one spectrum at a time and
    all at once (within the float32 rounding of a batch-size-dependent GEMM), with a
    per-spectrum mask and a precomputed reconstruction."""
    from karaoke.evaluation.metrics import PCABaseline

    pca = PCABaseline(6).fit(survey.flux[:120])
    args = _args(survey.subset(np.arange(120, 240)))
    tmpl = line_templates(*args, RANK_CONFIG)
    m = np.ones(args[0].shape)
    m[::3, :200] = 0  # some spectra lose their blue end
    whole = self_responses(pca.reconstruct, *args, RANK_CONFIG, templates=tmpl, mask=m, chunk=10_000)
    calls = []

    def counted(x):
        calls.append(len(x))
        return pca.reconstruct(x)

    for chunk in (7, 1):
        calls.clear()
        parts = self_responses(
            counted,
            *args,
            RANK_CONFIG,
            templates=tmpl,
            mask=m,
            chunk=chunk,
            recon=pca.reconstruct(args[0].astype(np.float32)),
        )
        assert max(calls) <= chunk
        np.testing.assert_allclose(parts, whole, rtol=0, atol=1e-4, equal_nan=True)  # float32 GEMM paths per batch size
    assert np.isfinite(whole).mean() > 0.9 and np.nanstd(whole[1]) > 0.01  # responses, not NaNs or constants
    with pytest.raises(ValueError, match="chunk"):
        self_responses(pca.reconstruct, *args, RANK_CONFIG, templates=tmpl, chunk=0)
