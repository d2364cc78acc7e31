"""karaoke: Stellar Karaoke telluric-line removal (Sedaghat et al. 2023, MNRAS 526).

Three concepts, as in wobble but with a real test suite:

* **spectra / data** -- :mod:`karaoke.io` (readers), :mod:`karaoke.grid` (grids, regridding,
  normalisation, Doppler shifts), :mod:`karaoke.synth` (the embedded synthetic survey) and
  :mod:`karaoke.survey` (the one-file survey format);
* **model** -- :mod:`karaoke.model` (the paper's network), :mod:`karaoke.whitening` (velocity
  whitening on the device) and :mod:`karaoke.train` (training, checkpoints, cache);
* **results** -- :mod:`karaoke.metrics` (Qt, Qs, baselines) and :mod:`karaoke.clean` (FITS products).
"""
from __future__ import annotations

__version__ = "0.1.0"

from .grid import (  # noqa: F401
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
from .io import Spectrum, SpectrumError, find_spectra, read_spectrum  # noqa: F401
from .model import Karaoke, ModelConfig, load_model, save_model  # noqa: F401
from .survey import Survey, load_survey, save_survey  # noqa: F401
from .synth import SurveyConfig, make_survey  # noqa: F401
from .whitening import random_velocities, velocity_shift, whiten  # noqa: F401
