"""Telluric products for observed spectra: the cleaned spectrum and transmission as FITS.

Layer 5 (above :mod:`karaoke.nn` and :mod:`karaoke.archive`):

* :mod:`karaoke.products.clean` -- :func:`clean_files`: read, move to the topocentric frame,
  reconstruct with a trained network, write one FITS product per input (the batch; each input a
  :class:`~karaoke.products.clean.PreparedInput`);
* :mod:`karaoke.products.fitsproduct` -- the product's columns, quality bits and FITS layout;
* :mod:`karaoke.products.noise` -- the input's 1-sigma errors (its own, or from its scatter);
* :mod:`karaoke.products.uncertainty` -- the telluric estimate and its posterior uncertainty;
* :mod:`karaoke.products.modelinfo` -- what a loaded network says about its data (grid, frame,
  medium, calibration).
"""

from karaoke.products.clean import CleanResult, clean_files, product_names

__all__ = ["CleanResult", "clean_files", "product_names"]
