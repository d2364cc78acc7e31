"""ESPRESSO DRS S1D tables: extension 1 with ``WAVELENGTH_AIR``, ``FLUX`` and ``ERROR`` columns,
either one row of arrays or one row per pixel."""

from __future__ import annotations

import numpy as np

from karaoke.spectra.fitsfile import SpectrumError, table_columns

KIND = "ESPRESSO S1D"


def identify(hdul) -> bool:

    return {"WAVELENGTH_AIR", "FLUX"} <= set(table_columns(hdul))


def read(hdul, path):

    ext, names = hdul[1], table_columns(hdul)
    if len(ext.data) < 1:
        raise SpectrumError(path, "S1D table has no rows")

    def get(col):
        data = ext.data[0][names[col]] if len(ext.data) == 1 else ext.data[names[col]]
        return np.array(data, dtype=np.float64).ravel()

    err = get("ERROR") if "ERROR" in names else None
    header = hdul[0].header.copy()
    header["KFLUXUNI"] = str(ext.columns[names["FLUX"]].unit or "")  # for Spectrum.meta['flux_unit']
    return get("WAVELENGTH_AIR"), get("FLUX"), err, header
