"""HARPS / HARPS-N DRS ``s1d`` files: a 1-D primary image on a linear wavelength axis
(``CRVAL1``, ``CDELT1``, ``CRPIX1``), no uncertainties."""

from __future__ import annotations

import numpy as np

from karaoke.spectra.fitsfile import SpectrumError

KIND = "HARPS DRS s1d"


def identify(hdul) -> bool:
    h0 = hdul[0].header
    return int(h0.get("NAXIS", 0)) >= 1 and "CRVAL1" in h0 and "CDELT1" in h0


def read(hdul, path):

    header = hdul[0].header
    if hdul[0].data is None:
        raise SpectrumError(path, "primary HDU holds no data")
    flux = np.array(hdul[0].data, dtype=np.float64)
    if flux.ndim != 1:
        raise SpectrumError(path, f"primary image has shape {flux.shape}, an s1d is 1-D")
    crpix = float(header.get("CRPIX1", 1.0))
    wave = float(header["CRVAL1"]) + float(header["CDELT1"]) * (np.arange(flux.size, dtype=np.float64) + 1.0 - crpix)
    header = header.copy()
    header["KFLUXUNI"] = str(header.get("BUNIT", ""))  # for Spectrum.meta['flux_unit']
    return wave, flux, None, header
