import json

import numpy as np
import pytest

from karaoke.spectra.survey import Survey, load_survey, save_survey


def test_round_trip_is_exact_and_atomic(small_survey, tmp_path):
    path = save_survey(small_survey, tmp_path / "s.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["s.npz"]  # no temporary left behind
    s = load_survey(path)
    np.testing.assert_array_equal(s.flux, small_survey.flux)
    np.testing.assert_array_equal(s.stellar, small_survey.stellar)
    assert s.meta.keys() == small_survey.meta.keys() and s.frame == "topocentric" and s.medium == "air"
    assert s.attrs["config"] == small_survey.attrs["config"] and s.data_hash() == small_survey.data_hash()


def test_a_numpy_only_file_loads(tmp_path):
    wave = 6000 + 0.01 * np.arange(64)
    np.savez(
        tmp_path / "mine.npz",
        wave=wave,
        flux=np.ones((3, 64)) * 100,
        attrs=json.dumps({"frame": "topocentric", "medium": "air"}),
    )
    s = load_survey(tmp_path / "mine.npz")
    assert len(s) == 3 and s.mask.sum() == 64 and not s.has_truth


@pytest.mark.parametrize(
    "case,match",
    [
        ("missing", "does not exist"),
        ("garbage", "not a readable"),
        ("nowave", "lacks"),
        ("shape", "shape"),
        ("nonuniform", "uniform"),
        ("frame", "frame"),
        ("nan", "NaN"),
    ],
)
def test_bad_survey_files_name_the_file(tmp_path, case, match):
    p = tmp_path / f"{case}.npz"
    w = 6000 + 0.01 * np.arange(16)
    if case == "garbage":
        p.write_text("nope")
    elif case == "nowave":
        np.savez(p, flux=np.ones((2, 16)))
    elif case == "shape":
        np.savez(p, wave=w, flux=np.ones((2, 15)))
    elif case == "nonuniform":
        np.savez(p, wave=np.r_[w[:5], w[5] + 0.004, w[6:]], flux=np.ones((2, 16)))
    elif case == "frame":
        np.savez(p, wave=w, flux=np.ones((2, 16)), attrs=json.dumps({"frame": "heliocentric"}))
    elif case == "nan":
        np.savez(p, wave=w, flux=np.full((2, 16), np.nan))
    with pytest.raises(ValueError, match=match) as info:
        load_survey(p)
    assert p.name in str(info.value)


def test_normalisation_rejects_noise_like_and_reports(small_survey):
    s = small_survey.subset(np.arange(6))
    s.flux[2] = np.abs(np.random.default_rng(0).normal(0, 5, s.n_pixels))  # median < 50
    norm, rejected = s.normalised()
    assert list(rejected) == [2] and "noise-like" in rejected[2]
    assert len(norm) == 5 and np.allclose(np.median(norm.flux, axis=1), 1.0, atol=1e-6)
    assert np.all(norm.meta["source_index"] == [0, 1, 3, 4, 5])


def test_split_keeps_stars_apart(small_survey):
    tr, te = small_survey.split(0.25)
    sid = small_survey.meta["star_id"]
    assert set(sid[tr]).isdisjoint(sid[te]) and len(tr) + len(te) == len(small_survey)
    no_id = Survey(wave=small_survey.wave, flux=small_survey.flux)
    tr2, te2 = no_id.split(0.1)
    assert te2[0] == len(small_survey) - len(te2)  # the last spectra, as the authors did
