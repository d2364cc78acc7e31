"""Figure helpers that compute something (not the drawing itself)."""

import numpy as np
import pytest

from karaoke.plotting import deepest_telluric_window
from karaoke.spectra.grid import Grid


def _band(wave, centre, depth, n_lines=12, spacing=0.3):
    """A band of narrow lines starting at ``centre`` (A), as a transmission (L,)."""
    t = np.ones_like(wave)
    for k in range(n_lines):
        t *= 1 - depth * np.exp(-0.5 * ((wave - centre - k * spacing) / 0.02) ** 2)
    return t


def test_window_covers_the_deepest_band_not_a_shallower_one(rng):
    w = Grid(6300.0, 0.01, 4096).wave
    deep, shallow = _band(w, 6325.0, 0.8), _band(w, 6305.0, 0.3)
    t = deep * shallow * (1 + 0.002 * rng.normal(size=(30, w.size)))  # (N, L) rows are averaged
    lo, hi = deepest_telluric_window(w, t, width=4.0)
    assert hi - lo == pytest.approx(4.0, abs=0.011)
    assert lo <= 6325.0 and 6325.0 + 11 * 0.3 <= hi  # the whole deep band lies inside
    lo1, hi1 = deepest_telluric_window(w, deep * shallow, width=1.0)
    assert 6324.9 <= lo1 and hi1 <= 6328.4  # a narrower zoom stays within the deep band


def test_window_wider_than_the_grid_is_the_whole_grid():
    w = Grid(6300.0, 0.01, 200).wave
    assert deepest_telluric_window(w, _band(w, 6300.5, 0.5), width=10.0) == (w[0], w[-1])


def test_window_rejects_a_transmission_of_another_grid():
    w = Grid(6300.0, 0.01, 200).wave
    with pytest.raises(ValueError, match="does not match"):
        deepest_telluric_window(w, np.ones((3, 150)))


def test_window_follows_lines_not_a_broad_slope_at_the_edge():
    """A broad absorption wing at the grid's start (a band's wing, 30 % deep, 50 A scale) holds
    more plain absorption than a band of lines further in; the window follows the lines, and
    keeps its margin from the edges."""
    w = Grid(6300.0, 0.01, 4096).wave
    t = (1 - 0.3 * np.exp(-(w - w[0]) / 50.0)) * _band(w, 6320.0, 0.5)
    n = 400  # what the plain transmission gives: the edge
    assert w[np.argmax(np.convolve(1 - t, np.ones(n), mode="valid"))] == w[0]
    lo, hi = deepest_telluric_window(w, t, width=4.0)
    assert lo <= 6320.0 and 6320.0 + 11 * 0.3 <= hi
    edge = deepest_telluric_window(w, _band(w, 6300.0, 0.5, n_lines=3), width=4.0, margin=1.0)
    assert edge[0] >= w[0] + 1.0 - 1e-9
