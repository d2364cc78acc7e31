"""ESO Phase-3 ADP 1D products (HARPS, HARPS-N, ESPRESSO...): a ``SPECTRUM`` binary table in
extension 1 holding one row of arrays ``WAVE``, ``FLUX`` and optionally ``ERR``."""

from __future__ import annotations

import numpy as np

from karaoke.spectra.fitsfile import SpectrumError, table_columns

KIND = "ESO ADP 1D"


def identify(hdul) -> bool:

    return {"WAVE", "FLUX"} <= set(table_columns(hdul))


def read(hdul, path):

    ext, names = hdul[1], table_columns(hdul)
    if len(ext.data) < 1:
        raise SpectrumError(path, "SPECTRUM table has no rows")
    row = ext.data[0]
    wave = np.array(row[names["WAVE"]], dtype=np.float64).ravel()
    flux = np.array(row[names["FLUX"]], dtype=np.float64).ravel()
    err = np.array(row[names["ERR"]], dtype=np.float64).ravel() if "ERR" in names else None
    header = hdul[0].header.copy()  # the primary header wins; the table adds what it lacks
    header.update({k: v for k, v in ext.header.items() if k not in header})
    header["KFLUXUNI"] = str(ext.columns[names["FLUX"]].unit or "")  # for Spectrum.meta['flux_unit']
    return wave, flux, err, header
