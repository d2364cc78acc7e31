"""SDSS spFrame reader against small files written in the documented layout."""

import numpy as np
import pytest
from astropy.io import fits
from numpy.polynomial import legendre

from karaoke.spectra.io import SpectrumError
from karaoke.spectra.sdss import homogenise, read_spframe, sdss_artifact_mask, sdss_grid, traceset_log10_wave
from tests.sdss_files import NPIX, write_spframe


def test_grid_matches_the_authors_numbers():
    g = sdss_grid()
    assert g.n == 2048 and g.stop == pytest.approx(9196.44) and sdss_artifact_mask().sum() == 2022


def test_reads_wavelengths_excludes_sky_and_homogenises(tmp_path):
    path, calib, coeff = write_spframe(tmp_path)
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
    path, calib, _ = write_spframe(tmp_path, func="poly")
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
    good, _, _ = write_spframe(tmp_path / "sub")
    with pytest.raises(SpectrumError, match="calibration shape"):
        read_spframe(good, tmp_path / "badcal.fits")


def test_downloaded_folder_becomes_a_survey_and_bad_frames_are_reported(tmp_path):
    from karaoke.spectra.sdss import sdss_survey

    write_spframe(tmp_path / "2887", expid=1001, gz=True)
    write_spframe(tmp_path / "2887", expid=1002)
    (tmp_path / "2887" / "spFrame-r1-00001003.fits").write_text("garbage")
    surv, failures = sdss_survey(tmp_path, progress=False)
    assert surv.flux.shape == (8, 2048) and surv.medium == "vacuum" and surv.attrs["normalised"]
    assert list(surv.meta["expid"]) == [1001] * 4 + [1002] * 4
    assert list(surv.meta["star_id"][:4]) == [2887000, 2887002, 2887003, 2887004]  # SKY fibre 1 excluded
    assert failures == [("spFrame-r1-00001003.fits", failures[0][1])] and "spFrame" in failures[0][1]
    with pytest.raises(ValueError, match="no usable"):
        sdss_survey(tmp_path / "empty", progress=False)
