"""The telluric transmission's uncertainty (karaoke.products.uncertainty) against cases with a
known answer."""

import numpy as np
import pytest

from karaoke.products.uncertainty import calibration_scale, coverage, telluric_estimate


def test_without_posterior_spread_the_error_is_the_flux_error_over_the_reconstruction():
    rng = np.random.default_rng(0)
    recon = 1 + 0.2 * rng.random((3, 50))
    flux = recon * (1 - 0.3 * rng.random((3, 50)))
    err = 0.01 + 0.01 * rng.random((3, 50))
    est = telluric_estimate(flux, err, np.repeat(recon[None], 4, axis=0))
    np.testing.assert_allclose(est["telluric"], flux / recon, rtol=1e-12)
    np.testing.assert_allclose(est["telluric_err"], err / recon, rtol=1e-12)
    assert np.all(est["recon_err"] == 0)


def test_the_posterior_part_is_the_spread_of_flux_over_each_draw():
    rng = np.random.default_rng(1)
    samples = 1 + 0.05 * rng.normal(size=(200, 1, 30))
    flux = np.full((1, 30), 0.9)
    est = telluric_estimate(flux, None, samples)
    np.testing.assert_allclose(est["telluric_err"], np.std(flux / samples, axis=0), rtol=1e-10)
    np.testing.assert_allclose(est["recon_err"], samples.std(0), rtol=1e-12)
    assert est["telluric_err"].mean() == pytest.approx(0.9 * 0.05, rel=0.1)


def test_pixels_without_data_get_t_1_and_no_error():
    est = telluric_estimate(
        np.ones((1, 4)), np.ones((1, 4)), np.ones((2, 1, 4)), valid=np.array([[True, False, True, False]])
    )
    assert est["telluric"][0].tolist() == [1, 1, 1, 1] and est["telluric_err"][0, 1] == 0


def test_coverage_and_calibration_scale_on_gaussian_errors():
    rng = np.random.default_rng(2)
    truth = np.zeros(200_000)
    sigma = np.full_like(truth, 0.02)
    est = rng.normal(0, 0.02, truth.size)
    assert coverage(est, sigma, truth) == pytest.approx(0.6827, abs=0.005)
    assert calibration_scale(est, sigma, truth) == pytest.approx(1.0, abs=0.02)
    # an uncertainty that is half the true scatter covers ~38 % and needs a factor 2
    assert coverage(est, sigma / 2, truth) == pytest.approx(0.383, abs=0.005)
    assert calibration_scale(est, sigma / 2, truth) == pytest.approx(2.0, abs=0.04)
    assert coverage(est, sigma / 2, truth, scale=2.0) == pytest.approx(0.6827, abs=0.005)


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="samples have shape"):
        telluric_estimate(np.ones((2, 5)), None, np.ones((3, 5)))
