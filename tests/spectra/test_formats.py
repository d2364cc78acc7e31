"""The format readers of karaoke.spectra.formats: each knows its own files and only those."""

import numpy as np
import pytest
from astropy.io import fits

from karaoke.spectra import formats
from karaoke.spectra.io import read_spectrum

N = 300
WAVE = 6000.0 + 0.01 * np.arange(N)
FLUX = 1.0 + 0.1 * np.sin(np.arange(N) / 7.0)


def _adp(path):
    cols = [
        fits.Column("WAVE", f"{N}D", array=WAVE[None]),
        fits.Column("FLUX", f"{N}E", array=FLUX[None]),
        fits.Column("ERR", f"{N}E", array=np.full((1, N), 0.01)),
    ]
    hdr = fits.Header({"INSTRUME": "HARPS"})
    hdr["HIERARCH ESO DRS BERV"] = 1.5
    fits.HDUList([fits.PrimaryHDU(header=hdr), fits.BinTableHDU.from_columns(cols, name="SPECTRUM")]).writeto(path)


def _espresso(path):  # one row per pixel, as the DRS writes it
    cols = [
        fits.Column("WAVELENGTH_AIR", "D", array=WAVE),
        fits.Column("FLUX", "D", array=FLUX),
        fits.Column("ERROR", "D", array=np.full(N, 0.02)),
    ]
    hdr = fits.Header({"INSTRUME": "ESPRESSO"})
    hdr["HIERARCH ESO QC BERV"] = -2.0
    fits.HDUList([fits.PrimaryHDU(header=hdr), fits.BinTableHDU.from_columns(cols)]).writeto(path)


def _s1d(path):
    hdr = fits.Header({"CRVAL1": WAVE[0], "CDELT1": 0.01, "CRPIX1": 1.0, "INSTRUME": "HARPS"})
    hdr["HIERARCH ESO DRS BERV"] = 3.0
    fits.PrimaryHDU(FLUX.astype(np.float32), header=hdr).writeto(path)


@pytest.mark.parametrize(
    "write,module,berv,err",
    [
        (_adp, formats.eso_adp, 1.5, 0.01),
        (_espresso, formats.espresso_s1d, -2.0, 0.02),
        (_s1d, formats.harps_s1d, 3.0, None),
    ],
)
def test_each_reader_identifies_only_its_own_format(tmp_path, write, module, berv, err):
    path = tmp_path / "spec.fits"
    write(path)
    with fits.open(path) as hdul:
        claims = [r for r in formats.READERS if r.identify(hdul)]
        assert claims == [module]
        assert formats.identify(hdul) is module
    s = read_spectrum(path)
    assert s.meta["kind"] == module.KIND and s.berv == berv
    assert np.allclose(s.wave, WAVE, rtol=0, atol=1e-9) and np.allclose(s.flux, FLUX, rtol=1e-6)
    assert (s.err is None) if err is None else np.allclose(s.err, err)


def test_every_reader_has_the_interface():
    for r in formats.READERS:
        assert isinstance(r.KIND, str) and callable(r.identify) and callable(r.read), r.__name__
        assert r.__doc__, f"{r.__name__} has no docstring naming its format"
