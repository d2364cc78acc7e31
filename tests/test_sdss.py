"""SDSS spFrame reader against small files written in the documented layout."""
import numpy as np
import pytest
from astropy.io import fits
from numpy.polynomial import legendre

from karaoke.io import SpectrumError
from karaoke.sdss import homogenise, read_spframe, sdss_artifact_mask, sdss_grid, traceset_log10_wave

NF, NPIX = 5, 800


def _write(tmp_path, func="legendre"):
    rng = np.random.default_rng(0)
    coeff = np.zeros((NF, 4))
    coeff[:, 0] = np.log10(7400.0) + 0.0002 * np.arange(NF)  # mean log-wavelength
    coeff[:, 1] = 0.099  # ~ 5820 - 9250 A over the chip
    coeff[:, 2] = 1e-4
    flux = rng.uniform(900, 1100, (NF, NPIX))
    ivar = np.full((NF, NPIX), 1e-3)
    ivar[0, 100:110] = 0  # bad pixels
    wset = fits.BinTableHDU.from_columns([
        fits.Column("FUNC", "16A", array=np.array([func])),
        fits.Column("XMIN", "D", array=np.array([0.0])),
        fits.Column("XMAX", "D", array=np.array([NPIX - 1.0])),
        fits.Column("COEFF", f"{NF * 4}D", dim=f"(4,{NF})", array=coeff[None])])
    plug = fits.BinTableHDU.from_columns([fits.Column("OBJTYPE", "16A", array=np.array(
        ["SEGUE_STAR", "SKY", "SEGUE_STAR", "SPECTROPHOTO_STD", "SEGUE_STAR"]))])
    hdus = [fits.PrimaryHDU(flux), fits.ImageHDU(ivar), fits.ImageHDU(np.zeros((NF, NPIX), np.int32)), wset,
            fits.ImageHDU(np.zeros((NF, 2))), plug]
    path = tmp_path / "spFrame-r1-00123456.fits"
    fits.HDUList(hdus).writeto(path)
    calib = tmp_path / "spFluxcalib-r1-00123456.fits"
    fits.PrimaryHDU(np.ones((NF, NPIX)) * 0.5).writeto(calib)
    return path, calib, coeff


def test_grid_matches_the_authors_numbers():
    g = sdss_grid()
    assert g.n == 2048 and g.stop == pytest.approx(9196.44) and sdss_artifact_mask().sum() == 2022


def test_reads_wavelengths_excludes_sky_and_homogenises(tmp_path):
    path, calib, coeff = _write(tmp_path)
    fr = read_spframe(path, calib)
    assert list(fr.fiber) == [0, 2, 3, 4] and "SKY" not in fr.objtype
    x = 2 * (np.arange(NPIX) - (NPIX - 1) / 2) / (NPIX - 1)
    np.testing.assert_allclose(fr.wave[1], 10 ** legendre.legval(x, coeff[2]), rtol=1e-12)
    np.testing.assert_allclose(np.log10(fr.wave), traceset_log10_wave(0, NPIX - 1, coeff[[0, 2, 3, 4]], NPIX))
    assert fr.calib.shape == fr.flux.shape
    flux, mask, kept = homogenise(fr)
    assert flux.shape == (4, 2048) and np.allclose(np.median(flux[mask > 0].reshape(-1)), 1.0, atol=0.05)
    assert mask[:, :13].sum() == 0  # padding


def test_bad_frames_raise_clear_errors(tmp_path):
    path, calib, _ = _write(tmp_path, func="poly")
    with pytest.raises(SpectrumError, match="legendre"):
        read_spframe(path)
    (tmp_path / "junk.fits").write_text("nope")
    with pytest.raises(SpectrumError, match="junk.fits"):
        read_spframe(tmp_path / "junk.fits")
    fits.PrimaryHDU(np.ones((2, 3))).writeto(tmp_path / "short.fits")
    with pytest.raises(SpectrumError, match="HDUs"):
        read_spframe(tmp_path / "short.fits")
    fits.PrimaryHDU(np.ones((3, 3))).writeto(tmp_path / "badcal.fits")
    (tmp_path / "sub").mkdir()
    good, _, _ = _write(tmp_path / "sub")
    with pytest.raises(SpectrumError, match="calibration shape"):
        read_spframe(good, tmp_path / "badcal.fits")
