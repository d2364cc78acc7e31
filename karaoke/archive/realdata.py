"""Real HARPS validation data: the 88 alpha Cen B spectra and their telluric reference.

The reference (Section 5.2 with a standard-atmosphere model in place of molecfit): the shared
transmission model (vacuum -> air), evaluated at each exposure's topocentric wavelengths and
scaled in depth per exposure (``T^k_i``, ``k_i`` fitted to the observed telluric lines).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from karaoke.paths import shared_data_dir
from karaoke.spectra.grid import Grid, doppler_shift, vacuum_to_air
from karaoke.spectra.survey import Survey


def alpha_cen_b_path() -> Path:
    return shared_data_dir() / "harps" / "alpha_cen_b" / "cenB_HARPS_s1d_5800-6910.fits"


def telluric_model_path() -> Path:
    return shared_data_dir() / "telluric" / "stdatmos_vac_5790-6935_excerpt.fits"


def load_alpha_cen_b(start: float | None = None, n_pixels: int | None = None, path=None) -> Survey:
    """The alpha Cen B cube as a barycentric Survey (air, ADU), optionally a sub-grid.

    Raises FileNotFoundError (with the path) where ../shared/data is absent.
    """
    from astropy.io import fits

    path = Path(path or alpha_cen_b_path())
    if not path.exists():
        raise FileNotFoundError(f"{path}: alpha Cen B data not available (../shared/data absent)")
    with fits.open(path, memmap=False) as h:
        hdr = h[0].header
        full = Grid(float(hdr["CRVAL1"]), float(hdr["CDELT1"]), int(hdr["NAXIS1"]))
        i0, n = 0, full.n
        if start is not None:
            i0 = int(round((start - full.start) / full.step))
            n = n_pixels or (full.n - i0)
            if i0 < 0 or i0 + n > full.n:
                raise ValueError(f"{path}: [{start}, +{n} px] is outside {full.start}-{full.stop} A")
        flux = np.asarray(h[0].data[:, i0 : i0 + n], dtype=np.float32)
        m = h["META"].data
        meta = {
            "file": np.array([str(x) for x in m["file"]]),
            "berv": np.asarray(m["BERV_KMS"], float),
            "airmass": np.asarray(m["AIRMASS"], float),
            "humidity": np.asarray(m["RHUM"], float),
            "snr": np.asarray(m["SNR50"], float),
            "bjd": np.asarray(m["BJD"], float),
            "star_id": np.zeros(len(m), dtype=np.int64),
        }
    wave = full.start + full.step * (i0 + np.arange(n))
    return Survey(
        wave=wave,
        flux=flux,
        meta=meta,
        frame="barycentric",
        medium="air",
        attrs={"source": path.name, "object": "HD128621 (alpha Cen B)"},
    )


def to_topocentric(survey: Survey) -> Survey:
    """Shift every barycentric spectrum by ``-BERV`` (mask follows); returns a topocentric Survey."""
    if survey.frame != "barycentric":
        raise ValueError("survey is not barycentric")
    berv = survey.meta["berv"]
    flux = doppler_shift(survey.wave, survey.flux, -berv).astype(np.float32)
    mask = doppler_shift(survey.wave, np.broadcast_to(survey.pixel_mask(), survey.flux.shape), -berv) > 0.999
    out = Survey(
        wave=survey.wave,
        flux=flux,
        mask=mask.astype(np.float32),
        meta=dict(survey.meta),
        frame="topocentric",
        medium=survey.medium,
        attrs=dict(survey.attrs),
    )
    return out


def model_transmission(wave_air, path=None) -> np.ndarray:
    """The shared standard-atmosphere transmission (vacuum in the file) on air wavelengths (L,)."""
    from astropy.io import fits

    path = Path(path or telluric_model_path())
    if not path.exists():
        raise FileNotFoundError(f"{path}: telluric model not available (../shared/data absent)")
    d = fits.getdata(path, 1)
    w_air = vacuum_to_air(np.asarray(d["wave"], dtype=np.float64))
    return np.interp(wave_air, w_air, np.asarray(d["flux"], dtype=np.float64))


def fit_depth_scaling(bary: Survey, t_model: np.ndarray, min_depth: float = 0.02) -> np.ndarray:
    """Exponents k_i such that ``T_model^k_i`` matches the telluric lines of each exposure.

    Each barycentric spectrum is divided by the median of all (stellar lines aligned, tellurics
    smeared by the 22 km/s BERV spread, so the median is nearly telluric-free); on telluric
    pixels ``log ratio_i = k_i log T_i + c_i`` is solved by least squares, with T_i the model
    moved to the barycentric frame (+BERV).
    """
    flux = bary.flux.astype(np.float64)
    flux = flux / np.median(flux, axis=1, keepdims=True)
    ref = np.median(flux, axis=0)
    k = np.empty(len(bary))
    for i in range(len(bary)):
        t_b = doppler_shift(bary.wave, t_model, bary.meta["berv"][i], fill=1.0)
        sel = (t_b < 1 - min_depth) & (ref > 0.2)
        y = np.log(np.clip(flux[i, sel] / ref[sel], 1e-3, None))
        A = np.c_[np.log(t_b[sel]), np.ones(sel.sum())]
        k[i] = np.linalg.lstsq(A, y, rcond=None)[0][0] if sel.sum() > 10 else 1.0
    # the barycentric median is nearly telluric-free (lines smeared over the BERV spread), so
    # the ratio carries the full telluric depth: k_i is the exponent itself
    return np.clip(k, 0.05, None)


def telluric_reference(bary: Survey, frame: str = "topocentric") -> np.ndarray:
    """Per-exposure telluric transmission (N, L) in ``frame`` (tellurics at rest when topocentric)."""
    t_model = model_transmission(bary.wave)
    k = fit_depth_scaling(bary, t_model)
    out = np.empty(bary.flux.shape)
    for i in range(len(bary)):
        t = np.clip(t_model, 1e-4, 1) ** k[i]
        out[i] = t if frame == "topocentric" else doppler_shift(bary.wave, t, bary.meta["berv"][i], fill=1.0)
    return out


def mix_with_synthetic(real: Survey, synth: Survey, real_star_id: int = -1) -> Survey:
    """Normalised topocentric real spectra of one object stacked with a normalised synthetic
    survey on the same grid, for training karaoke on both (Section 5.6's "mixed" network).

    The real spectra get star id ``real_star_id`` (one object: the per-star sampling weights
    then draw it as often as any one synthetic star); truth arrays are dropped (the real
    spectra have none).

    Raises
    ------
    ValueError
        If the grids differ or a survey is not topocentric.
    """
    if real.frame != "topocentric" or synth.frame != "topocentric":
        raise ValueError("mix topocentric surveys (shift barycentric ones by -BERV first)")
    if real.n_pixels != synth.n_pixels or not np.allclose(real.wave, synth.wave):
        raise ValueError(
            f"the synthetic survey is on another grid ({synth.wave[0]:.2f}-{synth.wave[-1]:.2f} A, "
            f"{synth.n_pixels} px) than the real spectra ({real.wave[0]:.2f}-{real.wave[-1]:.2f} A, "
            f"{real.n_pixels} px)"
        )
    from karaoke.spectra.survey import concat_surveys

    parts = [
        Survey(
            wave=s.wave, flux=s.flux, mask=s.mask, frame="topocentric", meta={"star_id": ids, "berv": s.meta["berv"]}
        )
        for s, ids in ((real, np.full(len(real), real_star_id)), (synth, synth.meta["star_id"]))
    ]
    mixed = concat_surveys(*parts)
    mixed.attrs["normalised"] = True
    return mixed


def alpha_cen_b_training(start: float, n_pixels: int, synth: Survey | None = None) -> tuple[Survey, Survey | None]:
    """The alpha Cen B spectra as notebook 07 trains karaoke on them: alone, and mixed with a
    synthetic survey (``make figures`` trains both before the notebook runs).

    Parameters
    ----------
    start : float
        First pixel of the window (air A, barycentric grid of the cube).
    n_pixels : int
        Pixels of the window.
    synth : Survey, optional
        A normalised topocentric synthetic survey on the same grid, for the mixed training set.

    Returns
    -------
    real : Survey
        The median-normalised spectra shifted to the topocentric frame (``meta['berv']``, km/s;
        ``meta['object']``).
    mixed : Survey or None
        ``real`` stacked with ``synth`` (:func:`mix_with_synthetic`); None without ``synth``.

    Raises
    ------
    FileNotFoundError
        Where ../shared/data is absent.
    """
    bary, _ = load_alpha_cen_b(start, n_pixels).normalised()
    topo = to_topocentric(bary)
    # the object names the star for the truth-free responses (a KL ladder's choice); no star id,
    # whose hold-out split would hold out the only star
    real = Survey(
        wave=topo.wave,
        flux=topo.flux,
        mask=topo.mask,
        meta={"berv": topo.meta["berv"], "object": np.full(len(topo), "alpha Cen B")},
        frame="topocentric",
        attrs={"normalised": True, "source": "alpha Cen B"},
    )
    return real, (mix_with_synthetic(real, synth) if synth is not None else None)
