"""Spectra from archives: download (ESO, SDSS, the authors' model), prepare, real-data sets.

Layer 2 (above :mod:`karaoke.spectra`; never imports :mod:`karaoke.nn`):

* :mod:`karaoke.archive.download` -- ESO Phase-3 (astroquery) and SDSS SAS downloads with
  checksums and a manifest;
* :mod:`karaoke.archive.prepare` -- many files to one normalised, topocentric memmap store with
  a report of every rejected file;
* :mod:`karaoke.archive.realdata` -- the shared alpha Cen B HARPS set and the standard-atmosphere
  telluric model.
"""

from karaoke.archive.download import download_harps, download_sdss, list_sdss_exposures, query_harps
from karaoke.archive.prepare import open_store, prepare_collection, prepare_observation

__all__ = [
    "download_harps",
    "download_sdss",
    "list_sdss_exposures",
    "query_harps",
    "open_store",
    "prepare_collection",
    "prepare_observation",
]
