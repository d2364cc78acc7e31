"""What every spectrum reader shares: the error a bad file raises and the FITS table helper.

A leaf module (it imports no other part of karaoke), so that :mod:`karaoke.spectra.io` and the
readers in :mod:`karaoke.spectra.formats` can both import it without importing each other.
"""

from __future__ import annotations

from astropy.io import fits


class SpectrumError(ValueError):
    """A spectrum file that cannot be used; the message names the file and the reason."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def table_columns(hdul, ext: int = 1) -> dict:
    """Upper-case name -> column name of binary table extension ``ext`` ({} if there is none).

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList
    ext : int
        Extension number.
    """
    if len(hdul) <= ext or not isinstance(hdul[ext], fits.BinTableHDU):
        return {}
    return {c.upper(): c for c in hdul[ext].columns.names}
