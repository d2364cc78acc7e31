import numpy as np
import pytest
import torch

from karaoke.nn.whitening import (
    guard_mask,
    guard_width,
    leading_mode_fraction,
    mask_from_ranges,
    mask_ranges,
    random_velocities,
    velocity_shift,
    whiten,
)
from karaoke.spectra.grid import Grid, doppler_shift, harps_artifact_mask, harps_grid


def _spectra(grid, rng, n=4):
    centres = rng.uniform(grid.start + 1, grid.stop - 1, (n, 30))
    w = grid.wave
    x = np.ones((n, grid.n))
    for i in range(n):
        for c in centres[i]:
            x[i] -= 0.6 * np.exp(-0.5 * ((w - c) / 0.025) ** 2)
    return x + 0.01 * rng.standard_normal(x.shape)


@pytest.mark.parametrize("grid", [Grid(6260.0, 0.01, 4096), harps_grid()], ids=["roi", "harps-327680"])
def test_torch_operator_equals_float64_reference(grid, rng):
    x = _spectra(grid, rng, 3)
    v = np.array([-29.97, 0.0137, 23.456])
    ref = doppler_shift(grid.wave, x, v)
    out32, _ = velocity_shift(torch.tensor(x, dtype=torch.float32), torch.tensor(v, dtype=torch.float32), grid)
    assert np.max(np.abs(out32.numpy() - ref)) < 1e-6
    out64, _ = velocity_shift(torch.tensor(x), torch.tensor(v), grid)
    assert np.max(np.abs(out64.numpy() - ref)) < 1e-10


def test_zero_velocity_is_identity_and_shapes_are_kept(rng):
    grid = Grid(6260.0, 0.01, 512)
    x = torch.tensor(_spectra(grid, rng, 2), dtype=torch.float32)[:, None, :]  # (B, 1, L)
    y, m = velocity_shift(x, torch.zeros(2), grid, torch.ones_like(x))
    assert y.shape == x.shape and torch.equal(y, x) and bool((m == 1).all())


def test_mask_follows_the_shift_and_edges_are_invalid(rng):
    grid = Grid(6260.0, 0.01, 2000)
    x = torch.ones(1, grid.n)
    mask = torch.ones(1, grid.n)
    mask[0, 1000:1010] = 0
    v = torch.tensor([20.0])  # ~ +0.42 A = +42 px redward
    y, m = velocity_shift(x, v, grid, mask)
    bad = torch.nonzero(m[0] == 0).flatten()
    shift_px = 6270.0 * 20.0 / 299792.458 / 0.01
    assert bad.min() < 10  # the blue edge has no data to shift in
    gap = bad[(bad > 500) & (bad < 1500)]
    assert abs(float(gap.float().mean()) - (1004.5 + shift_px)) < 1.5
    assert y[0, 0] == 0.0  # fill value outside the grid


def test_errors_on_bad_shapes():
    grid = Grid(6260.0, 0.01, 100)
    with pytest.raises(ValueError, match="pixels"):
        velocity_shift(torch.ones(2, 99), torch.zeros(2), grid)
    with pytest.raises(ValueError, match="one velocity per spectrum"):
        velocity_shift(torch.ones(2, 100), torch.zeros(3), grid)
    with pytest.raises(ValueError):
        random_velocities(3, -1.0)


def test_random_velocities_are_uniform_and_reproducible():
    g1 = torch.Generator().manual_seed(3)
    g2 = torch.Generator().manual_seed(3)
    v1, v2 = random_velocities(20000, 30.0, g1), random_velocities(20000, 30.0, g2)
    assert torch.equal(v1, v2)
    assert float(v1.min()) >= -30 and float(v1.max()) <= 30
    assert abs(float(v1.mean())) < 0.5 and abs(float(v1.std()) - 30 / np.sqrt(3)) < 0.3


def test_whitening_decorrelates_telluric_lines(rng):
    """Science direction (Fig. 4): fixed-wavelength lines are correlated across observations;
    random velocities lower the mean off-diagonal correlation."""
    grid = Grid(6275.0, 0.01, 1000)
    w = grid.wave
    lines = rng.uniform(6276, 6284, 25)
    depth = rng.uniform(0.2, 0.6, (90, 1))
    t = np.ones((90, grid.n))
    for c in lines:
        t *= 1 - depth * np.exp(-0.5 * ((w - c) / 0.03) ** 2)
    t += 0.005 * rng.standard_normal(t.shape)
    x = torch.tensor(t, dtype=torch.float32)
    xw, _, v = whiten(x, grid, 30.0, generator=torch.Generator().manual_seed(0))
    inner = slice(100, 900)  # away from the edges that the shifts leave empty
    topo, white = leading_mode_fraction(t[:, inner]), leading_mode_fraction(xw.numpy()[:, inner])
    assert topo > 0.9  # one mode: depths varying together at fixed wavelengths
    assert white < 0.5 * topo
    assert v.shape == (90,)
    x0, _, _ = whiten(x, grid, 0.0)
    assert torch.equal(x0, x)


def test_guard_width_is_the_largest_shift_in_pixels():
    grid = Grid(6260.0, 0.01, 4096)
    top_shift_px = grid.stop * 30.0 / 299792.458 / grid.step  # float64 reference: ~63.1 px
    k = guard_width(grid, 30.0)
    assert top_shift_px + 1 <= k <= top_shift_px + 2
    assert guard_width(grid, 0.0) == 0
    with pytest.raises(ValueError):
        guard_width(grid, -5.0)


def test_guard_hides_the_virtual_velocity_at_the_edges():
    """Without the guard the zero-filled block at the grid edge is as wide as the shift (it
    reveals v'); with it, the zeroed pixels are the same whatever v' is."""
    grid = Grid(6260.0, 0.01, 1024)
    x = torch.ones(64, grid.n)
    g = torch.Generator().manual_seed(1)
    y, _, v = whiten(x, grid, 30.0, generator=g)
    widths = (y == 0).sum(1).float()
    assert torch.corrcoef(torch.stack([widths, v.abs()]))[0, 1] > 0.99  # the leak
    guard = torch.from_numpy(guard_mask(grid, 30.0))
    yg, mg, _ = whiten(x, grid, 30.0, torch.ones_like(x), generator=torch.Generator().manual_seed(1), guard=guard)
    assert bool(((yg == 0) == (guard == 0)[None]).all())  # one fixed pattern for every v'
    assert bool((mg <= guard[None]).all())
    k = guard_width(grid, 30.0)
    assert int((guard == 0).sum()) == 2 * k


def test_guard_widens_every_masked_band_of_the_static_mask():
    grid = harps_grid()
    static = harps_artifact_mask()
    guard = guard_mask(grid, 30.0, static)
    k = guard_width(grid, 30.0)
    zero = mask_ranges(static)
    assert mask_ranges(guard) == [[a - k if a > 0 else 0, min(b + k, grid.n)] for a, b in zero]
    np.testing.assert_array_equal(mask_from_ranges(mask_ranges(guard), grid.n), guard)
    np.testing.assert_array_equal(guard_mask(grid, 0.0, static), static)  # topocentric: no widening
    with pytest.raises(ValueError, match="shape"):
        guard_mask(grid, 30.0, static[:10])
    with pytest.raises(ValueError, match="outside"):
        mask_from_ranges([[5, 20]], 10)
