"""The one-file survey format (``.npz``), writable with numpy alone.

Format
------
A ``numpy.savez`` archive with these keys (N spectra, L pixels):

================  ===========  =====================================================
key               shape        meaning
================  ===========  =====================================================
``wave``          (L,)         uniform, increasing wavelengths, Angstrom (float64)
``flux``          (N, L)       observed flux, any positive units (float32)
``err``           (N, L)       optional 1-sigma uncertainties
``mask``          (L,)/(N, L)  optional, 1 on usable pixels (artifact mask); default 1
``stellar``       (N, L)       optional truth: telluric-free spectrum, ``flux`` units
``transmission``  (N, L)       optional truth: telluric transmission (0..1)
``meta_<name>``   (N,)         optional per-spectrum metadata (``meta_star_id``,
                               ``meta_berv`` km/s, ``meta_airmass``, ...)
``attrs``         ()           optional JSON string: ``{"frame": "topocentric",
                               "medium": "air", ...}``
================  ===========  =====================================================

Example (numpy only)::

    np.savez("my_survey.npz", wave=wave, flux=flux,
             attrs=json.dumps({"frame": "topocentric", "medium": "air"}))

``frame`` is the rest frame of ``wave`` (``topocentric`` for training the paper's way,
tellurics at fixed wavelengths) and ``medium`` is ``air`` or ``vacuum``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from karaoke.spectra.grid import Grid, NoiseLikeSpectrum, median_normalise

_TRUTH = ("stellar", "transmission")


@dataclass
class Survey:
    """A homogenised set of spectra on one uniform grid (see the module docstring)."""

    wave: np.ndarray
    flux: np.ndarray
    err: np.ndarray | None = None
    mask: np.ndarray | None = None
    stellar: np.ndarray | None = None
    transmission: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    frame: str = "topocentric"
    medium: str = "air"
    attrs: dict = field(default_factory=dict)

    def __post_init__(self):
        self.wave = np.asarray(self.wave, dtype=np.float64)
        self.flux = np.asanyarray(self.flux, dtype=np.float32)  # keeps a memmap a memmap (no copy)
        if self.flux.ndim != 2 or self.flux.shape[1] != self.wave.size:
            raise ValueError(f"flux must have shape (N, {self.wave.size}), got {self.flux.shape}")
        self.grid = Grid.from_wave(self.wave)
        n, L = self.flux.shape
        if self.mask is None:
            self.mask = np.ones(L, np.float32)
        if not (isinstance(self.mask, np.ndarray) and self.mask.dtype == np.uint8):
            self.mask = np.asarray(self.mask, dtype=np.float32)  # uint8 masks (large stores) stay uint8
        if self.mask.shape not in ((L,), (n, L)):
            raise ValueError(f"mask must have shape ({L},) or ({n}, {L}), got {self.mask.shape}")
        if not isinstance(self.flux, np.memmap):  # stores are written finite; in-memory data is checked
            bad = ~np.isfinite(self.flux)
            if bad.any():  # non-finite pixels are masked (mask 0, flux 0), never fed to a network
                self.flux = np.where(bad, np.float32(0), self.flux)
                self.mask = np.where(bad, 0, np.broadcast_to(self.mask, self.flux.shape)).astype(self.mask.dtype)
                self.attrs = dict(
                    self.attrs, n_nonfinite_masked=int(bad.sum()) + int(self.attrs.get("n_nonfinite_masked", 0))
                )
        for name in ("err",) + _TRUTH:
            a = getattr(self, name)
            if a is not None:
                a = np.asarray(a, dtype=np.float32)
                if a.shape != self.flux.shape:
                    raise ValueError(f"{name} must have shape {self.flux.shape}, got {a.shape}")
                setattr(self, name, a)
        for k, v in self.meta.items():
            v = np.asarray(v)
            if v.shape != (n,):
                raise ValueError(f"meta {k!r} must have shape ({n},), got {v.shape}")
            self.meta[k] = v
        if self.frame not in ("topocentric", "barycentric"):
            raise ValueError(f"frame must be 'topocentric' or 'barycentric', got {self.frame!r}")
        if self.medium not in ("air", "vacuum"):
            raise ValueError(f"medium must be 'air' or 'vacuum', got {self.medium!r}")

    def __len__(self) -> int:
        return self.flux.shape[0]

    @property
    def n_pixels(self) -> int:
        return self.flux.shape[1]

    @property
    def has_truth(self) -> bool:
        return self.stellar is not None and self.transmission is not None

    def pixel_mask(self, i=None) -> np.ndarray:
        """Artifact mask of spectrum ``i`` (shape (L,)) or of all spectra (N, L)."""
        m = self.mask if self.mask.ndim == 2 else np.broadcast_to(self.mask, self.flux.shape)
        return m if i is None else m[i]

    def subset(self, idx) -> "Survey":
        """A new Survey holding the spectra ``idx`` (indices or boolean mask)."""
        idx = np.asarray(idx)

        def take(a):
            return None if a is None else a[idx]

        return Survey(
            wave=self.wave,
            flux=self.flux[idx],
            err=take(self.err),
            mask=self.mask if self.mask.ndim == 1 else self.mask[idx],
            stellar=take(self.stellar),
            transmission=take(self.transmission),
            meta={k: v[idx] for k, v in self.meta.items()},
            frame=self.frame,
            medium=self.medium,
            attrs=dict(self.attrs),
        )

    def normalised(self, min_median: float = 50.0):
        """Median-normalise every spectrum (the paper's rule), rejecting noise-like ones.

        Returns
        -------
        survey : Survey
            The accepted spectra, ``flux`` and ``stellar`` divided by each spectrum's median.
        rejected : dict
            ``{index: reason}`` for spectra rejected as noise-like.
        """
        keep, meds, rejected = [], [], {}
        for i in range(len(self)):
            try:
                _, med = median_normalise(self.flux[i], self.pixel_mask(i), min_median=min_median)
            except NoiseLikeSpectrum as exc:
                rejected[i] = str(exc)
                continue
            keep.append(i)
            meds.append(med)
        sub = self.subset(np.array(keep, dtype=int))
        scale = (1.0 / np.asarray(meds, dtype=np.float64))[:, None]
        sub.flux = (sub.flux * scale).astype(np.float32)
        if sub.err is not None:
            sub.err = (sub.err * scale).astype(np.float32)
        if sub.stellar is not None:
            sub.stellar = (sub.stellar * scale).astype(np.float32)
        sub.meta["median"] = np.asarray(meds)
        sub.meta["source_index"] = np.array(keep, dtype=np.int64)
        return sub, rejected

    def data_hash(self) -> str:
        """SHA-256 (16 hex digits) of the wavelengths, flux and mask: keys caches and checkpoints."""
        h = hashlib.sha256()
        for a in (self.wave, self.flux, self.mask):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]

    def split(self, holdout_fraction: float = 0.1):
        """Deterministic train / held-out split.

        With ``meta['star_id']`` the held-out set is every spectrum of the last stars (by id), so
        test stars are never seen in training; otherwise the last spectra (as the authors did).

        Returns
        -------
        train_idx, test_idx : ndarray of int
        """
        if not 0 < holdout_fraction < 1:
            raise ValueError("holdout_fraction must be in (0, 1)")
        n = len(self)
        if "star_id" in self.meta:
            sid = self.meta["star_id"]
            stars = np.unique(sid)
            n_test = max(1, int(round(holdout_fraction * stars.size)))
            test = np.isin(sid, stars[-n_test:])
        else:
            test = np.arange(n) >= n - max(1, int(round(holdout_fraction * n)))
        return np.flatnonzero(~test), np.flatnonzero(test)


def save_survey(survey: Survey, path) -> Path:
    """Write ``survey`` to ``path`` (``.npz``) atomically (temporary name, then rename).

    Parameters
    ----------
    survey : Survey
    path : path
        ``.npz`` is appended if missing.

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"wave": survey.wave, "flux": survey.flux, "mask": survey.mask}
    for name in ("err",) + _TRUTH:
        if getattr(survey, name) is not None:
            arrays[name] = getattr(survey, name)
    for k, v in survey.meta.items():
        arrays[f"meta_{k}"] = v
    attrs = dict(survey.attrs, frame=survey.frame, medium=survey.medium)
    arrays["attrs"] = np.array(json.dumps(attrs))
    from karaoke._atomic import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    return path


def load_survey(path) -> Survey:
    """Read a survey file, validating it; errors name the file and the problem.

    Parameters
    ----------
    path : path
        ``.npz`` file written by :func:`save_survey`.

    Returns
    -------
    Survey
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: survey file does not exist")
    try:
        z = np.load(path, allow_pickle=False)
        keys = set(z.files)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable .npz survey file ({type(exc).__name__}: {exc})") from exc
    with z:
        missing = {"wave", "flux"} - keys
        if missing:
            raise ValueError(f"{path}: survey file lacks required array(s) {sorted(missing)}")
        try:
            attrs = json.loads(str(z["attrs"])) if "attrs" in keys else {}
            kw = {k: z[k] for k in ("wave", "flux", "err", "mask") + _TRUTH if k in keys}
            meta = {k[5:]: z[k] for k in z.files if k.startswith("meta_")}
        except Exception as exc:
            raise ValueError(f"{path}: corrupt survey file ({type(exc).__name__}: {exc})") from exc
    frame = attrs.pop("frame", "topocentric")
    medium = attrs.pop("medium", "air")
    if not np.isfinite(kw["flux"]).any():
        raise ValueError(f"{path}: flux is NaN everywhere")
    if "wave" in kw and not np.isfinite(kw["wave"]).all():
        raise ValueError(f"{path}: 'wave' holds NaN/inf")
    try:
        return Survey(meta=meta, frame=frame, medium=medium, attrs=attrs, **kw)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def concat_surveys(*surveys: Survey) -> Survey:
    """Stack surveys on the same grid and frame (metadata keys present in all are kept).

    Truth arrays are kept only if every survey has them.

    Parameters
    ----------
    *surveys : Survey
        On one grid, frame and medium.

    Returns
    -------
    Survey
    """
    if not surveys:
        raise ValueError("nothing to concatenate")
    s0 = surveys[0]
    for s in surveys[1:]:
        if s.n_pixels != s0.n_pixels or not np.allclose(s.wave, s0.wave) or s.frame != s0.frame:
            raise ValueError("surveys must share their wavelength grid and frame")
    keys = set.intersection(*(set(s.meta) for s in surveys))

    def stack(name):
        if any(getattr(s, name) is None for s in surveys):
            return None
        return np.vstack([getattr(s, name) for s in surveys])

    mask = np.vstack([np.broadcast_to(s.pixel_mask(), s.flux.shape) for s in surveys]).astype(np.float32)
    return Survey(
        wave=s0.wave,
        flux=np.vstack([s.flux for s in surveys]),
        err=stack("err"),
        mask=mask,
        stellar=stack("stellar"),
        transmission=stack("transmission"),
        meta={k: np.concatenate([s.meta[k] for s in surveys]) for k in sorted(keys)},
        frame=s0.frame,
        medium=s0.medium,
        attrs={"concatenated": [s.attrs.get("source", "") for s in surveys]},
    )
