"""Spectra coming in: grids, the survey container and one reader module per file format.

Layer 1 (imports only the standard library, numpy, astropy and :mod:`karaoke._atomic`):

* :mod:`karaoke.spectra.grid` -- wavelength grids, regridding, normalisation, Doppler shifts,
  air/vacuum conversion (pure functions);
* :mod:`karaoke.spectra.survey` -- :class:`Survey`, N spectra on one grid with masks, truth and
  metadata, and its one-file format;
* :mod:`karaoke.spectra.io` -- :func:`read_spectrum`, dispatching to the format readers in
  :mod:`karaoke.spectra.formats` (ESO ADP 1D, HARPS DRS s1d, ESPRESSO S1D), BERV handling;
* :mod:`karaoke.spectra.sdss` -- SDSS spFrame exposures.
"""

from karaoke.spectra.grid import (
    C_KMS,
    Grid,
    NoiseLikeSpectrum,
    air_to_vacuum,
    doppler_shift,
    harps_artifact_mask,
    harps_grid,
    median_normalise,
    regrid,
    vacuum_to_air,
)
from karaoke.spectra.io import Spectrum, SpectrumError, find_spectra, read_spectrum
from karaoke.spectra.survey import Survey, concat_surveys, load_survey, save_survey

__all__ = [
    "C_KMS",
    "Grid",
    "NoiseLikeSpectrum",
    "air_to_vacuum",
    "doppler_shift",
    "harps_artifact_mask",
    "harps_grid",
    "median_normalise",
    "regrid",
    "vacuum_to_air",
    "Spectrum",
    "SpectrumError",
    "find_spectra",
    "read_spectrum",
    "Survey",
    "concat_surveys",
    "load_survey",
    "save_survey",
]
