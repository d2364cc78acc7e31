"""The FITS product of a cleaned spectrum: its columns, quality bits and header.

A product has two binary-table extensions with one row per pixel and the same columns
(:data:`PRODUCT_COLUMNS`, each with its TUNIT): ``SPECTRUM`` in the input's barycentric frame,
which ``specutils`` reads as it is, and ``TOPOCENTRIC`` with the tellurics at rest
(docs/products.md has the format in full).
"""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits

from karaoke import __version__
from karaoke._atomic import atomic_path
from karaoke.products.uncertainty import telluric_estimate
from karaoke.spectra.grid import doppler_shift

#: QUAL bits of a product pixel (0: good).
QUAL_NO_DATA = 1  #: no usable input: outside the spectrum, padding, gap, dead pixels (TELLURIC set to 1)
QUAL_GUARD = 2  #: guard band of a whitened network: the input is passed through, no correction
QUAL_T_RANGE = 4  #: TELLURIC outside its physical range [0, T_MAX]
QUAL_POOR = 8  #: poor reconstruction: posterior spread above POOR_RECON of the reconstruction
#: Posterior spread (fraction of the reconstruction) above which a pixel is flagged QUAL_POOR.
POOR_RECON = 0.05
#: Largest TELLURIC value taken as physical (noise on a continuum pixel); above it QUAL_T_RANGE.
T_MAX = 1.1


#: Columns of a product extension: name, FITS format, and whether it carries the flux unit.
PRODUCT_COLUMNS = (
    ("WAVE", "D", None),
    ("FLUX", "E", True),
    ("ERR", "E", True),
    ("RECON", "E", True),
    ("TELLURIC", "E", False),
    ("TELLURIC_ERR", "E", False),
    ("FLUX_CORR", "E", True),
    ("ERR_CORR", "E", True),
    ("QUAL", "I", False),
)


#: What each product column holds (the TTYPE comments). TELLURIC, TELLURIC_ERR and QUAL are
#: dimensionless (no TUNIT); the others carry the flux unit or Angstrom.
COLUMN_DOC = {
    "WAVE": "air wavelength",
    "FLUX": "input flux",
    "ERR": "1-sigma error of FLUX",
    "RECON": "telluric-free reconstruction",
    "TELLURIC": "transmission FLUX/RECON (dimensionless)",
    "TELLURIC_ERR": "1-sigma error of TELLURIC (dimensionless)",
    "FLUX_CORR": "FLUX/TELLURIC",
    "ERR_CORR": "1-sigma error of FLUX_CORR",
    "QUAL": "bit flags, 0 good (see primary header)",
}


def product_arrays(flux, err, mask, samples, guard=None, err_scale: float = 1.0) -> dict:
    """The product's columns in the network's (topocentric) frame, normalised flux units.

    Parameters
    ----------
    flux, err : ndarray, shape (L,)
        Median-normalised flux and its 1-sigma error.
    mask : ndarray, shape (L,)
        1 where the input has data.
    samples : ndarray, shape (K, L)
        Posterior reconstructions (:meth:`karaoke.nn.model.Karaoke.reconstruct_samples`).
    guard : ndarray, shape (L,), optional
        The network's input guard (0: the input is passed through).
    err_scale : float
        Calibration factor of the telluric uncertainty (:func:`uncertainty_scale`).

    Returns
    -------
    dict of ndarray, shape (L,)
        FLUX, ERR, RECON, TELLURIC (1 where there is no data), TELLURIC_ERR, FLUX_CORR
        (``FLUX / TELLURIC``, the reconstruction where there is data), ERR_CORR and QUAL.
    """
    have = np.asarray(mask) > 0
    est = telluric_estimate(flux[None], err[None], samples[:, None, :], have[None])  # one spectrum: (1, L)
    recon, tell = est["recon"][0], est["telluric"][0]
    valid = have & (np.abs(recon) > 1e-3)
    tell_err = err_scale * est["telluric_err"][0]
    qual = np.where(have, 0, QUAL_NO_DATA).astype(np.int16)
    if guard is not None:
        qual |= np.where(np.asarray(guard) > 0, 0, QUAL_GUARD).astype(np.int16)
    qual |= np.where(valid & ((tell < 0) | (tell > T_MAX)), QUAL_T_RANGE, 0).astype(np.int16)
    spread = est["recon_err"][0]
    qual |= np.where(valid & (spread > POOR_RECON * np.abs(recon)), QUAL_POOR, 0).astype(np.int16)
    corr = np.where(valid, flux / np.where(valid, tell, 1.0), flux)
    corr_err = np.where(valid, err_scale * spread, err)
    return {
        "FLUX": flux,
        "ERR": err,
        "RECON": recon,
        "TELLURIC": np.where(valid, tell, 1.0),
        "TELLURIC_ERR": np.where(valid, tell_err, 0.0),
        "FLUX_CORR": corr,
        "ERR_CORR": corr_err,
        "QUAL": qual,
    }


def _table(grid, cols: dict, unit: str, name: str, specsys: str, comment: str):
    fcols = [fits.Column("WAVE", "D", unit="Angstrom", array=grid.wave)]
    for key, fmt, has_unit in PRODUCT_COLUMNS[1:]:
        a = cols[key]
        fcols.append(
            fits.Column(key, fmt, unit=unit if has_unit else "", array=a.astype(np.int16 if fmt == "I" else np.float32))
        )
    hdu = fits.BinTableHDU.from_columns(fcols, name=name)
    for i, (key, _, _) in enumerate(PRODUCT_COLUMNS, start=1):
        hdu.header.comments[f"TTYPE{i}"] = COLUMN_DOC[key]
    hdu.header["SPECSYS"] = (specsys, comment)
    hdu.header["AIRORVAC"] = ("air", "wavelength medium of WAVE")
    return hdu


def _shift(cols: dict, grid, berv: float) -> dict:
    """The columns moved from the topocentric to the barycentric frame (by +BERV); each QUAL bit
    is moved on its own (a pixel touched by a flagged one keeps the flag)."""
    out = {}
    for key, a in cols.items():
        if key == "QUAL":
            q = np.zeros(grid.n, np.int16)
            for bit in (QUAL_NO_DATA, QUAL_GUARD, QUAL_T_RANGE, QUAL_POOR):
                moved = doppler_shift(
                    grid.wave, ((a & bit) > 0).astype(np.float64), berv, fill=1.0 if bit == QUAL_NO_DATA else 0.0
                )
                q |= np.where(moved > 1e-6, bit, 0).astype(np.int16)
            out[key] = q
        else:
            out[key] = doppler_shift(grid.wave, np.asarray(a, np.float64), berv, fill=1.0 if key == "TELLURIC" else 0.0)
    return out


def write_product(
    path: Path, spec, grid, cols: dict, median: float, model_meta: dict, provenance: dict, ecsv: bool = False
):
    berv = float(spec.berv)
    unit, unit_src = flux_unit(spec)
    scaled = {k: cols[k] * median if has_unit else cols[k] for k, _, has_unit in PRODUCT_COLUMNS[1:]}
    bary = _shift(scaled, grid, berv)
    spectrum = _table(grid, bary, unit, "SPECTRUM", "BARYCENT", "frame of WAVE: stellar lines at rest")
    topo = _table(grid, scaled, unit, "TOPOCENTRIC", "TOPOCENT", "frame of WAVE: tellurics at rest")
    hdr = fits.Header()
    hdr["ORIGIN"] = ("karaoke", "Stellar Karaoke telluric removal")
    hdr["KARAOKEV"] = (__version__, "karaoke version")
    for key, name in (
        ("MODEL", "model"),
        ("MODELSHA", "model_sha256"),
        ("TRAINCFG", "train_config"),
        ("SOURCE", "source"),
        ("SRCSHA", "source_sha256"),
    ):
        hdr[key] = str(provenance[name])  # long values continue on CONTINUE cards
    if model_meta.get("partial"):
        hdr["PARTIAL"] = (True, f"network only partly trained (epoch {model_meta.get('epoch')})")
    hdr["OBJECT"] = spec.object
    hdr["INSTRUME"] = spec.meta.get("instrument", "")
    hdr["DATE-OBS"] = spec.meta.get("date_obs", "")
    mjd = spec.meta.get("mjd_obs", float("nan"))
    if np.isfinite(mjd):
        hdr["MJD-OBS"] = (float(mjd), "from the input")
    hdr["BERV"] = (berv, "km/s, barycentric Earth radial velocity")
    hdr["BERVSRC"] = (str(spec.meta.get("berv_source", ""))[-40:], "source of BERV")
    hdr["AIRMASS"] = (spec.airmass if np.isfinite(spec.airmass) else -1.0, "mean airmass (-1: unknown)")
    hdr["AIRORVAC"] = ("air", "wavelength medium")
    hdr["MEDIUM"] = ("air", "wavelength medium")
    hdr["FLUXUNIT"] = (unit, "unit of FLUX, ERR, RECON, FLUX_CORR, ERR_CORR")
    hdr["FUNITSRC"] = unit_src[:68]  # where the flux unit comes from
    hdr["ERRSRC"] = (provenance["err_source"], "ERR: input errors or pixel scatter")
    hdr["NSAMPLES"] = (int(provenance["samples"]), "posterior draws behind TELLURIC_ERR, ERR_CORR")
    hdr["ERRSCALE"] = (float(provenance["err_scale"]), "calibration factor of TELLURIC_ERR, ERR_CORR")
    hdr["ERRCAL"] = str(provenance["err_calibration"])  # calibration of the uncertainties (long: CONTINUE cards)
    hdr["COMMENT"] = "SPECTRUM: barycentric frame (as the input); TOPOCENTRIC: the same, tellurics at rest"
    hdr["COMMENT"] = "RECON: network reconstruction (telluric-free); TELLURIC = FLUX / RECON"
    hdr["COMMENT"] = "FLUX_CORR = FLUX / TELLURIC; ERR_CORR: posterior spread of the reconstruction"
    hdr["COMMENT"] = "TELLURIC_ERR: posterior spread of FLUX / RECON_k with ERR, times ERRSCALE"
    hdr["COMMENT"] = (
        f"QUAL bits: {QUAL_NO_DATA} no data (TELLURIC=1), {QUAL_GUARD} guard band (no correction), "
        f"{QUAL_T_RANGE} TELLURIC outside [0, {T_MAX}], {QUAL_POOR} poor reconstruction "
        f"(posterior spread > {POOR_RECON:g} of RECON)"
    )
    hdul = fits.HDUList([fits.PrimaryHDU(header=hdr), spectrum, topo])
    with atomic_path(path) as tmp:
        hdul.writeto(tmp, overwrite=True)
    if ecsv:
        from astropy.table import QTable

        tab = QTable({"WAVE": grid.wave * u.AA})
        for key, _, has_unit in PRODUCT_COLUMNS[1:]:  # the SPECTRUM columns, from the arrays just written
            tab[key] = bary[key] * u.Unit(unit) if has_unit else bary[key]
        tab.meta = {k: hdr[k] for k in hdr if k not in ("COMMENT", "") and not k.startswith("NAXIS")}
        with atomic_path(path.with_suffix(".ecsv")) as tmp:
            tab.write(tmp, format="ascii.ecsv", overwrite=True)


def flux_unit(spec) -> tuple[str, str]:
    """The FITS unit string for a spectrum's flux, and where it came from.

    The file's own unit where astropy reads it as a unit (ESO ADP: ``adu``); the DRS 1D files
    state none (ESPRESSO S1D) or ``Relative Flux`` (HARPS s1d): their flux is detector counts
    corrected for the blaze, written as ``adu``.

    Parameters
    ----------
    spec : Spectrum
    """
    raw = str(spec.meta.get("flux_unit", "")).strip()
    try:
        unit = u.Unit(raw) if raw else None
    except ValueError:
        unit = None
    if unit is not None and unit != u.dimensionless_unscaled:
        return unit.to_string("fits"), "input"
    return "adu", f"assumed (the input states {raw!r})" if raw else "assumed (the input states none)"
