"""Telluric products for observed spectra: the cleaned spectrum and transmission as FITS.

Layer 5 (above :mod:`karaoke.nn` and :mod:`karaoke.archive`):

* :mod:`karaoke.products.clean` -- :func:`clean_files`: read, move to the topocentric frame,
  reconstruct with a trained network, write one FITS product per input with quality bits.
"""

from karaoke.products.clean import CleanResult, clean_files, product_names

__all__ = ["CleanResult", "clean_files", "product_names"]
