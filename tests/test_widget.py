"""Drive the velocity-whitening explorer of notebook 01 from Python."""

import numpy as np

from karaoke.plotting import WhiteningExplorer
from karaoke.spectra.grid import Grid


def test_slider_redraws_spectra_and_covariance(rng):
    grid = Grid(6275.0, 0.01, 1000)
    w = grid.wave
    t = np.ones((60, grid.n))
    airmass_like = rng.uniform(0.5, 1.5, (60, 1))  # all lines deepen together
    for c, d in zip(rng.uniform(6276, 6284, 20), rng.uniform(0.1, 0.4, 20)):
        t *= 1 - d * airmass_like * np.exp(-0.5 * ((w - c) / 0.03) ** 2)
    ex = WhiteningExplorer(t, grid, 6276.0, 6284.0, seed=0, max_velocity=0)
    box = ex.widget()
    slider = box.children[0]
    assert slider.value == 0
    cov0, lmf0, shifted0 = ex.cov.copy(), ex.leading_mode, ex.shifted.copy()
    np.testing.assert_allclose(shifted0, t[:, (w >= 6276) & (w <= 6284)], atol=1e-6)
    image = box.children[1]
    png0 = image.value
    assert png0[:8] == b"\x89PNG\r\n\x1a\n"
    slider.value = 30  # as a user would
    assert ex.velocity == 30
    assert not np.allclose(ex.cov, cov0)
    assert ex.leading_mode < 0.5 * lmf0
    assert "30" in ex._fig.axes[0].get_title()
    assert image.value != png0 and image.value[:4] == b"\x89PNG"  # the picture was redrawn
