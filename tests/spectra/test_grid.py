import numpy as np
import pytest

from karaoke.spectra.grid import (
    C_KMS,
    Grid,
    NoiseLikeSpectrum,
    air_to_vacuum,
    artifact_mask,
    barycentric_to_topocentric,
    doppler_shift,
    harps_artifact_mask,
    harps_grid,
    median_normalise,
    regrid,
    vacuum_to_air,
)


def test_harps_grid_matches_the_authors_numbers():
    g = harps_grid()
    assert g.n == 327680 == 2**18 + 2**16
    assert g.wave[0] == pytest.approx(3709.11) and g.wave[-1] == pytest.approx(6985.90)
    m = harps_artifact_mask()
    real = np.flatnonzero(g.wave >= 3785 - 1e-9)
    assert real[0] == 7589 and np.flatnonzero(g.wave <= 6910 + 1e-9)[-1] == 320089
    assert m[:7589].sum() == 0 and m[320090:].sum() == 0
    assert m[159453:162894].sum() == 0 and m[159452] == 1 and m[162894] == 1
    assert m.sum() == 312501 - (162893 - 159453 + 1)


def test_grid_validation_and_subgrid():
    with pytest.raises(ValueError):
        Grid(6000.0, -0.01, 10)
    g = harps_grid().sub(6260.0, 4096)
    assert g.start == pytest.approx(6260.0) and g.n == 4096
    with pytest.raises(ValueError):
        harps_grid().sub(6980.0, 4096)
    with pytest.raises(ValueError):
        Grid.from_wave(np.array([1.0, 2.0, 2.5]))


def test_regrid_is_exact_on_the_native_grid_and_masks_gaps():
    g = Grid(5000.0, 0.01, 500)
    w = 4999.0 + 0.01 * np.arange(400)  # covers 4999.00 - 5002.99
    f = np.sin(w)
    f[250] = np.nan
    out, mask = regrid(w, f, g)
    inside = g.wave <= w[-1] + 1e-9
    assert mask[~inside].sum() == 0 and out[~inside].sum() == 0
    j = int(np.argmin(np.abs(g.wave - w[250])))
    assert mask[j] == 0  # the NaN pixel is masked, not propagated
    ok = mask > 0
    np.testing.assert_allclose(out[ok], np.sin(g.wave[ok]), atol=1e-9)
    with pytest.raises(ValueError, match="increasing"):
        regrid(w[::-1], f, g)


def test_median_normalise_and_noise_like_rule():
    f = np.full(100, 200.0)
    f[:10] = 1e6
    mask = np.ones(100)
    mask[:10] = 0
    out, med = median_normalise(f, mask)
    assert med == 200.0 and out[50] == 1.0
    with pytest.raises(NoiseLikeSpectrum, match="median"):
        median_normalise(np.full(100, 40.0))
    with pytest.raises(NoiseLikeSpectrum):
        median_normalise(np.r_[np.full(60, 60.0), np.full(40, -500.0)])  # median ok, mean <= 0
    out2, meds = median_normalise(np.vstack([f, 2 * f]), mask)
    np.testing.assert_allclose(meds, [200.0, 400.0])


def test_doppler_shift_moves_a_line_to_lambda_over_one_minus_v_over_c():
    g = Grid(6000.0, 0.001, 20000)
    lam0, v = 6010.0, 17.3
    x = 1 - 0.5 * np.exp(-0.5 * ((g.wave - lam0) / 0.02) ** 2)
    y = doppler_shift(g.wave, x, v, fill=1.0)
    depth = 1 - y
    centroid = np.sum(g.wave * depth) / np.sum(depth)
    assert centroid == pytest.approx(lam0 / (1 - v / C_KMS), abs=2e-4)
    # barycentric -> topocentric is V{x, -BERV}
    z = barycentric_to_topocentric(g.wave, x, 10.0)
    z[(g.wave > 6019.0) | (g.wave < 6001.0)] = 1.0  # ignore the filled edge
    c2 = np.sum(g.wave * (1 - z)) / np.sum(1 - z)
    assert c2 == pytest.approx(lam0 / (1 + 10.0 / C_KMS), abs=2e-4)
    with pytest.raises(ValueError):
        doppler_shift(g.wave, np.vstack([x, x]), [1.0, 2.0, 3.0])


def test_air_vacuum_conversion():
    # H-alpha: 6562.80 A air = 6564.61 A vacuum (NIST)
    assert air_to_vacuum(6562.80) == pytest.approx(6564.61, abs=0.01)
    w = np.linspace(3700, 7000, 50)
    np.testing.assert_allclose(vacuum_to_air(air_to_vacuum(w)), w, atol=1e-8)
    assert np.all(air_to_vacuum(w) > w)


def test_artifact_mask_custom_range():
    g = Grid(5300.0, 0.01, 5000)
    m = artifact_mask(g)
    gap = (g.wave >= 5303.64 - 1e-9) & (g.wave <= 5338.04 + 1e-9)
    assert m[gap].sum() == 0 and m[~gap].all()
