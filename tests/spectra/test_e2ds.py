"""HARPS / HARPS-N e2ds: echelle orders deblazed and merged into one 1D spectrum
(karaoke.spectra.formats.e2ds), checked against the DRS's own s1d of the same exposure."""

import shutil

import numpy as np
import pytest

from karaoke.spectra.formats.e2ds import merge_orders
from karaoke.spectra.grid import C_KMS
from karaoke.spectra.io import SpectrumError, find_spectra, read_spectrum
from tests.helpers import shared

E2DS = "HARPS.2003-12-13T06:19:48.371_e2ds_A.fits"


def test_merged_e2ds_matches_the_drs_s1d_of_the_same_exposure():
    """Gl 273 (2003): the merged e2ds (observatory frame) moved by its BERV lies on the DRS s1d
    (barycentric): the best match is at 0 km/s (within 0.1) and the spectra correlate > 0.98
    (the rest is the photon noise of an M dwarf at S/N ~ 30)."""
    e = read_spectrum(shared("harps", E2DS))
    s = read_spectrum(shared("harps", "HARPS.2003-12-13T06:19:48.371_s1d_A.fits"))
    assert e.frame == "topocentric" and s.frame == "barycentric" and e.berv == s.berv
    assert e.meta["kind"] == "HARPS DRS e2ds (merged)" and e.meta["berv_source"] == "HIERARCH ESO DRS BERV"
    g = np.arange(6400.0, 6500.0, 0.01)
    fs = np.interp(g, s.wave, s.flux)
    fs /= np.median(fs)
    shifts = np.arange(-0.3, 0.31, 0.05)
    corr = []
    for dv in shifts:
        fe = np.interp(g, e.wave * (1 + (e.berv + dv) / C_KMS), e.flux)
        corr.append(np.corrcoef(fe / np.median(fe), fs)[0, 1])
    assert abs(shifts[int(np.argmax(corr))]) <= 0.1 + 1e-9 and max(corr) > 0.98
    assert np.all(np.isfinite(e.err[np.isfinite(e.flux)])) and np.nanmedian(e.flux / e.err) > 10


def test_harps_n_solar_e2ds_reads_with_its_own_keywords():
    s = read_spectrum(shared("harpsn_sun", "HARPN.2020-11-03T10-18-23.184_e2ds_A.fits"))
    assert s.frame == "topocentric" and s.meta["instrument"] == "HARPN"
    assert s.berv == pytest.approx(0.6929, abs=1e-3) and s.meta["berv_source"] == "HIERARCH TNG DRS BERV"
    assert s.wave[0] == pytest.approx(3874.08, abs=0.01) and s.wave[-1] == pytest.approx(6909.41, abs=0.02)


def test_an_e2ds_without_its_calibrations_names_the_missing_file(tmp_path):
    shutil.copy(shared("harps", E2DS), tmp_path)
    with pytest.raises(SpectrumError, match="blaze file HARPS.2003-12-12T21:42:45.093_blaze_A.fits is not in"):
        read_spectrum(tmp_path / E2DS)
    shutil.copy(shared("harps", "HARPS.2003-12-12T21:42:45.093_blaze_A.fits"), tmp_path)
    with pytest.raises(SpectrumError, match="wave file HARPS.2003-12-12T21:47:59.366_wave_A.fits"):
        read_spectrum(tmp_path / E2DS)


def test_find_spectra_keeps_the_e2ds_and_sets_its_calibrations_aside(tmp_path):
    for name in (E2DS, "HARPS.2003-12-12T21:42:45.093_blaze_A.fits", "HARPS.2003-12-12T21:47:59.366_wave_A.fits"):
        shutil.copy(shared("harps", name), tmp_path)
    spectra, others = find_spectra(tmp_path)
    assert [p.name for p in spectra] == [E2DS] and len(others) == 2
    assert read_spectrum(spectra[0]).wave.size > 200_000


def test_merge_orders_weights_by_inverse_variance():
    """Two overlapping orders of a flat spectrum (1000 ADU at the blaze peak): the merge
    recovers it, and where both orders count its error is smaller by ~sqrt(2)."""
    w = np.stack([6000 + 0.01 * np.arange(400), 6002 + 0.01 * np.arange(400)])
    x = np.linspace(-1, 1, 400)
    blaze = np.stack([np.cos(x * 1.2) ** 2] * 2)
    flux = 1000.0 * blaze
    grid, f, e = merge_orders(w, flux, blaze, gain=1.0, read_noise=0.0)
    ok = np.isfinite(f)
    np.testing.assert_allclose(f[ok], 1000.0 * blaze.max(), rtol=1e-9)  # ADU at the blaze peak
    single = e[(grid > 6000.5) & (grid < 6001.5)]
    both = e[(grid > 6002.9) & (grid < 6003.1)]  # the middle of the overlap: both orders count
    assert np.all(both < single.min())
    # the overlap's centre: each order alone has variance 1000 bn / bn^2 at bn ~ cos^2(0.6)
    bn = np.cos(0.6) ** 2 / blaze.max()
    assert both.mean() == pytest.approx(np.sqrt(1000 * blaze.max() / bn / 2), rel=0.05)
