"""The torch survey generator (karaoke.synth.device) against the numpy one: same plan, same
physics, so the same noiseless truth; the photon noise is another realisation of the same law."""

import numpy as np
import pytest
import torch

from karaoke.synth.device import _median, conv_same, make_survey_torch
from karaoke.synth.generator import SurveyConfig, make_survey


@pytest.fixture(scope="module")
def pair():
    cfg = SurveyConfig(n_spectra=12, n_stars=4, seed=3, grid_start=6276.0, n_pixels=1024)
    return make_survey(cfg, progress=False), make_survey_torch(cfg, device="cpu", progress=False, chunk=5)


def test_truth_equals_the_numpy_generators(pair):
    a, b = pair
    for k in ("stellar", "transmission"):
        np.testing.assert_allclose(getattr(b, k), getattr(a, k), rtol=1e-5, err_msg=k)
    for k in ("star_id", "berv", "airmass", "pwv", "snr"):
        np.testing.assert_array_equal(b.meta[k], a.meta[k])
    assert b.frame == "topocentric" and b.medium == "air" and b.attrs["config"] == a.attrs["config"]


def test_photon_noise_has_the_same_law(pair):
    a, b = pair
    counts = np.maximum(a.stellar * a.transmission, 1.0)  # ~ the noiseless counts (to the convolution)
    z = (b.flux - a.flux) / np.sqrt(2 * counts)  # two independent draws of the same noise
    assert abs(z.mean()) < 0.02 and z.std() == pytest.approx(1.0, abs=0.03)


def test_fft_convolution_and_median_match_scipy_and_numpy():
    from scipy.signal import fftconvolve

    rng = np.random.default_rng(0)
    x, k = rng.normal(size=(3, 1000)), rng.random(41)
    np.testing.assert_allclose(
        conv_same(torch.as_tensor(x), k).numpy(), fftconvolve(x, k[None], mode="same", axes=-1), atol=1e-12
    )
    for n in (10, 11):
        y = rng.normal(size=(2, n))
        np.testing.assert_allclose(_median(torch.as_tensor(y)).numpy(), np.median(y, axis=1))
