"""karaoke: Stellar Karaoke telluric-line removal (Sedaghat et al. 2023, MNRAS 526).

The package is layered; a layer imports only from the layers above it in this list (a test,
``tests/test_layers.py``, checks it):

0. infrastructure -- :mod:`karaoke._atomic` (the one atomic writer), :mod:`karaoke.paths`
   (where data, caches and figures live), :mod:`karaoke._malloc` (large tensors reuse freed
   memory in training and in ``karaoke clean --backend torch``);
1. :mod:`karaoke.spectra` -- spectra coming in: grids and Doppler shifts, the :class:`Survey`
   container, one reader module per file format (:mod:`karaoke.spectra.formats`), SDSS frames;
2. :mod:`karaoke.synth` -- the synthetic survey and its physical telluric model (line tables as
   package data); :mod:`karaoke.archive` -- downloads from ESO and SDSS, preparing stores,
   the shared real data;
3. :mod:`karaoke.nn` -- the network, velocity whitening, batches, training state and loop, the
   network on ONNX Runtime;
4. :mod:`karaoke.presets` -- every named configuration of data, network and training;
5. :mod:`karaoke.evaluation` -- Qt, Qs and the other scores, baselines, sweeps;
   :mod:`karaoke.products` -- FITS products of cleaned spectra;
6. front ends -- :mod:`karaoke.plotting` (figure styling), :mod:`karaoke.notebooks` (the
   papermill runner), :mod:`karaoke.cli` (one module per command).

The names below are the public API the notebooks use.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: Public name -> the module that defines it. Imported on first use (PEP 562), so that reading
#: and preparing spectra (``karaoke.spectra``, ``karaoke.archive``) never loads PyTorch.
_API = {
    **dict.fromkeys(
        [
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
        ],
        "karaoke.spectra.grid",
    ),
    **dict.fromkeys(["Spectrum", "SpectrumError", "find_spectra", "read_spectrum"], "karaoke.spectra.io"),
    **dict.fromkeys(["Survey", "load_survey", "save_survey"], "karaoke.spectra.survey"),
    **dict.fromkeys(["SurveyConfig", "make_survey"], "karaoke.synth.generator"),
    **dict.fromkeys(["Karaoke", "ModelConfig"], "karaoke.nn.model"),
    **dict.fromkeys(["load_model", "save_model"], "karaoke.nn.checkpoint"),
    **dict.fromkeys(["OnnxKaraoke"], "karaoke.nn.export"),
    **dict.fromkeys(["random_velocities", "velocity_shift", "whiten"], "karaoke.nn.whitening"),
}
__all__ = sorted(_API)


def __getattr__(name):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'karaoke' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))
