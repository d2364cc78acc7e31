"""One reader module per 1D spectrum file format.

Each module defines

* ``KIND`` -- the format's name (recorded as ``Spectrum.meta['kind']``);
* ``identify(hdul) -> bool`` -- from the headers and column names alone, whether an open
  :class:`astropy.io.fits.HDUList` is this format;
* ``read(hdul, path) -> (wave, flux, err, header)`` -- float64 arrays of shape (M,) (``err``
  None where the file has none), air wavelengths in Angstrom (barycentric as the 1D products
  deliver them; a reader of observatory-frame data sets ``KFRAME = 'topocentric'``), and the
  header to take metadata and BERV from (with the flux unit
  as the file states it in ``KFLUXUNI``, empty if it states none); raises
  :class:`karaoke.spectra.fitsfile.SpectrumError` for a file of this format that cannot be used.

:func:`karaoke.spectra.io.read_spectrum` tries them in the order of :data:`READERS`; adding an
instrument means adding one module here and naming it there.
"""

from karaoke.spectra.formats import e2ds, eso_adp, espresso_s1d, harps_s1d

#: The readers, in the order they are tried.
READERS = (eso_adp, espresso_s1d, harps_s1d, e2ds)


def identify(hdul):
    """The reader module for an open FITS file, or None if no reader knows its layout.

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList
    """
    for reader in READERS:
        if reader.identify(hdul):
            return reader
    return None
