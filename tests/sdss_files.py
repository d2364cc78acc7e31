"""Small SDSS spFrame / spFluxcalib files in the documented layout (no real file is offline)."""

import gzip

import numpy as np
from astropy.io import fits

NF, NPIX = 5, 800
OBJTYPES = ("SEGUE_STAR", "SKY", "SEGUE_STAR", "SPECTROPHOTO_STD", "SEGUE_STAR")


def write_spframe(folder, expid: int = 123456, func: str = "legendre", objtypes=OBJTYPES, gz: bool = False):
    """Write spFrame-r1-EXPID and spFluxcalib-r1-EXPID into ``folder``; returns (frame, calib, coeff)."""
    rng = np.random.default_rng(0)
    nf = len(objtypes)
    coeff = np.zeros((nf, 4))
    coeff[:, 0] = np.log10(7400.0) + 0.0002 * np.arange(nf)  # mean log-wavelength
    coeff[:, 1] = 0.099  # ~ 5820 - 9250 A over the chip
    coeff[:, 2] = 1e-4
    flux = rng.uniform(900, 1100, (nf, NPIX))
    ivar = np.full((nf, NPIX), 1e-3)
    ivar[0, 100:110] = 0  # bad pixels
    wset = fits.BinTableHDU.from_columns(
        [
            fits.Column("FUNC", "16A", array=np.array([func])),
            fits.Column("XMIN", "D", array=np.array([0.0])),
            fits.Column("XMAX", "D", array=np.array([NPIX - 1.0])),
            fits.Column("COEFF", f"{nf * 4}D", dim=f"(4,{nf})", array=coeff[None]),
        ]
    )
    plug = fits.BinTableHDU.from_columns([fits.Column("OBJTYPE", "16A", array=np.array(list(objtypes)))])
    hdus = [
        fits.PrimaryHDU(flux),
        fits.ImageHDU(ivar),
        fits.ImageHDU(np.zeros((nf, NPIX), np.int32)),
        wset,
        fits.ImageHDU(np.zeros((nf, 2))),
        plug,
    ]
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".fits.gz" if gz else ".fits"
    path = folder / f"spFrame-r1-{expid:08d}{ext}"
    calib = folder / f"spFluxcalib-r1-{expid:08d}{ext}"
    for p, hl in ((path, fits.HDUList(hdus)), (calib, fits.HDUList([fits.PrimaryHDU(np.ones((nf, NPIX)) * 0.5)]))):
        if gz:
            import io

            buf = io.BytesIO()
            hl.writeto(buf)
            p.write_bytes(gzip.compress(buf.getvalue()))
        else:
            hl.writeto(p)
    return path, calib, coeff
