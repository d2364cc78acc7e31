import numpy as np
import pytest
from astropy.io import fits

from karaoke.spectra.grid import vacuum_to_air
from karaoke.synth.generator import SurveyConfig, make_survey
from karaoke.synth.telluric import TelluricModel, convolve_to_resolution, h2o_lines, o2_lines
from tests.helpers import shared


def _hitran(name):
    d = fits.getdata(shared("telluric", name), 1)
    return np.asarray(d["wave_number"]), np.asarray(d["Intensity"]), np.asarray(d["Epp"])


@pytest.mark.parametrize("band,lo,hi", [("gamma", 15700, 16000), ("B", 14300, 14600), ("A", 12900, 13200)])
def test_o2_band_structure_matches_hitran(band, lo, hi):
    nu_h, S_h, E_h = _hitran("Static_hitran_qt_O2.fits")
    inband = (nu_h > lo) & (nu_h < hi)
    strong = inband & (S_h > 0.01 * S_h[inband].max())
    lines = o2_lines(band)
    nu = lines["wavenumber"]
    # every strong HITRAN line is predicted within 0.01 cm^-1 (~0.004 A), with its lower-state energy
    for n0, e0 in zip(nu_h[strong], E_h[strong]):
        k = np.argmin(np.abs(nu - n0))
        assert abs(nu[k] - n0) < 0.01
        assert abs(lines["elower"][k] - e0) < 0.05
    # and the predicted relative intensities follow HITRAN's (rank correlation)
    k = [np.argmin(np.abs(nu - n0)) for n0 in nu_h[strong]]
    r = np.corrcoef(np.argsort(np.argsort(lines["intensity"][k])), np.argsort(np.argsort(S_h[strong])))[0, 1]
    assert r > 0.9


def test_transmission_minima_sit_at_hitran_air_wavelengths():
    """O2 lines of the synthetic survey at HITRAN positions converted vacuum -> air."""
    nu_h, S_h, _ = _hitran("Static_hitran_qt_O2.fits")
    air = vacuum_to_air(1e8 / nu_h)
    survey = make_survey(SurveyConfig(n_spectra=3, n_stars=3, grid_start=6276.0, n_pixels=4096), progress=False)
    w = survey.wave
    t = survey.transmission.mean(0)
    sel = (air > w[20]) & (air < w[-20]) & (S_h > 5e-27)
    isolated = np.array([np.sum((np.abs(air - a) < 0.15) & (S_h > 0.2 * s)) == 1 for a, s in zip(air, S_h)])
    sel &= isolated  # blends have their minimum between the lines
    assert sel.sum() >= 8
    for a in air[sel]:
        win = np.abs(w - a) < 0.05
        if win.sum() == 0:
            continue
        w_min = w[win][np.argmin(t[win])]
        assert abs(w_min - a) <= 0.015, (a, w_min)


def test_depths_scale_with_airmass_and_water():
    w = np.arange(6276.0, 6300.0, 0.0025)
    tm = TelluricModel(w)
    d1, d2 = 1 - tm.transmission(1.0, 1.0).min(), 1 - tm.transmission(2.0, 1.0).min()
    assert d2 > d1 > 0.2  # O2 gamma band heads are tens of per cent deep at zenith
    wh = np.arange(5880.0, 5900.0, 0.0025)
    th = TelluricModel(wh)
    assert (1 - th.transmission(1.0, 20.0)).max() > 3 * (1 - th.transmission(1.0, 1.0)).max() - 0.05
    with pytest.raises(ValueError):
        tm.transmission(0.5, 1.0)


def test_agrees_with_the_shared_standard_atmosphere_model():
    d = fits.getdata(shared("telluric", "stdatmos_vac_5790-6935_excerpt.fits"), 1)
    wv, fl = np.asarray(d["wave"], float), np.asarray(d["flux"], float)
    lo, hi = 6276.0, 6300.0
    wa = vacuum_to_air(wv)
    sel = (wa > lo) & (wa < hi)
    ours = TelluricModel(wa[sel]).transmission(1.0, 2.0)
    from scipy.ndimage import gaussian_filter1d

    step = np.median(np.diff(wa[sel]))
    ours = gaussian_filter1d(ours, 6280 / 60000 / 2.355 / step)  # the reference is at R ~ 60000
    assert np.corrcoef(ours, fl[sel])[0, 1] > 0.9


def test_h2o_table_is_the_hitran_subset():
    h = h2o_lines()
    hit = h["source"] == 0
    assert hit.sum() > 1000 and np.all(np.diff(h["wavenumber"]) >= 0)
    assert h["intensity"][hit].min() > 5e-26
    assert 1e8 / h["wavenumber"][hit].min() > 7990  # HITRAN lines up to the excerpt's 8000 A


def test_h2o_lines_beyond_hitran_sit_on_the_mask_atlas_and_make_the_sdss_bands():
    from karaoke.spectra.grid import vacuum_to_air

    h = h2o_lines()
    ps = h["source"] == 1
    lam = vacuum_to_air(1e8 / h["wavenumber"][ps])
    assert ps.sum() > 200 and lam.min() > 7995 and lam.max() < 9000
    atlas = np.loadtxt(shared("telluric", "telluric_mask_atlas_short.dat"), skiprows=1)
    # the atlas lists each segment as 0 / 1 (first pixel) / 1 (last pixel) / 0: a wavelength inside a
    # segment has flag-1 rows on both sides
    i = np.searchsorted(atlas[:, 0], lam, side="right")
    inside = (atlas[i - 1, 1] > 0) & (atlas[np.minimum(i, len(atlas) - 1), 1] > 0)
    assert inside.mean() > 0.97, inside.mean()
    w = np.arange(8100.0, 8400.0, 0.05)
    t = convolve_to_resolution(w, TelluricModel(w).transmission(1.2, 5.0), 1800.0)
    wet = convolve_to_resolution(w, TelluricModel(w).transmission(1.2, 20.0), 1800.0)
    assert 0.02 < 1 - t.mean() < 0.2 and (1 - wet.mean()) > 2 * (1 - t.mean())  # a real band, scaling with PWV
