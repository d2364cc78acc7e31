"""Velocity whitening (Section 3.1): the operator V{x, v} as a batched torch function.

Runs wherever its inputs live (CPU or GPU), inside the training step, with no per-spectrum
Python loop. ``V{x, v}(lam) = x(lam (1 - v/c))`` on a uniform grid, with linear interpolation
back onto the grid -- the same operator as :func:`karaoke.spectra.grid.doppler_shift` (float64 numpy
reference), to which it agrees to ~1e-7 in float32.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from karaoke.spectra.grid import C_KMS, Grid


def velocity_shift(
    flux: torch.Tensor, v: torch.Tensor, grid: Grid, mask: torch.Tensor | None = None, fill: float = 0.0
):
    """Apply ``V{x, v}`` to a batch of spectra on a uniform grid.

    Parameters
    ----------
    flux : Tensor, shape (B, L) or (B, 1, L)
        Spectra sampled on ``grid`` (any float dtype, any device).
    v : Tensor, shape (B,)
        Velocities in km/s (positive redshifts the features).
    grid : Grid
        The uniform grid of ``flux`` (``grid.n == L``).
    mask : Tensor, shape like ``flux``, optional
        1 on valid pixels. The returned mask is 1 only where both interpolation neighbours were
        valid and the sampled wavelength lies inside the grid.
    fill : float
        Flux value outside the grid.

    Returns
    -------
    shifted : Tensor, same shape and dtype as ``flux``
    shifted_mask : Tensor, same shape as ``flux`` (float), or None if ``mask`` is None
    """
    shape = flux.shape
    x = flux.reshape(shape[0], -1)  # (B, L)
    B, L = x.shape
    if L != grid.n:
        raise ValueError(f"flux has {L} pixels but the grid has {grid.n}")
    if v.shape != (B,):
        raise ValueError(f"need one velocity per spectrum: v has shape {tuple(v.shape)}, batch is {B}")
    # Index arithmetic in float64 (exact to ~1e-10 px even at 327680 px); blend in flux dtype.
    idx_dtype = torch.float32 if x.device.type == "mps" else torch.float64
    beta = (v.to(idx_dtype) / C_KMS)[:, None]  # (B, 1)
    j = torch.arange(L, device=x.device, dtype=idx_dtype)[None, :]  # (1, L)
    a = grid.start / grid.step
    d = (a + j) * beta  # (B, L) displacement in pixels: p = j - d
    p = j - d
    i0 = torch.floor(p)
    frac = (p - i0).to(x.dtype)
    i0 = i0.long()
    inside = (p >= 0) & (p <= L - 1)
    i0c = i0.clamp(0, L - 1)
    i1c = (i0 + 1).clamp(0, L - 1)
    x0 = torch.gather(x, 1, i0c)
    x1 = torch.gather(x, 1, i1c)
    out = x0 + frac * (x1 - x0)
    out = torch.where(inside, out, torch.full_like(out, fill))
    if mask is None:
        return out.reshape(shape), None
    m = mask.reshape(B, L).to(x.dtype)
    m0 = torch.gather(m, 1, i0c)
    m1 = torch.where(frac > 0, torch.gather(m, 1, i1c), torch.ones_like(m0))
    mo = m0 * m1 * inside.to(x.dtype)
    return out.reshape(shape), mo.reshape(shape)


def guard_width(grid: Grid, max_velocity: float) -> int:
    """Pixels by which a shift of at most ``max_velocity`` km/s moves any pixel of ``grid``
    (rounded up, plus one interpolation neighbour); 0 for ``max_velocity == 0``."""
    if max_velocity < 0:
        raise ValueError(f"max_velocity must be >= 0, got {max_velocity}")
    if max_velocity == 0:
        return 0
    top = max(abs(grid.start), abs(grid.stop)) / grid.step  # largest |lambda| in pixels
    return int(math.ceil(top * max_velocity / C_KMS)) + 1


def guard_mask(grid: Grid, max_velocity: float, static_mask=None) -> np.ndarray:
    """Static input mask of a network whitened with ``v ~ U(-N, N)``: shape (L,), float32.

    ``velocity_shift`` fills pixels that come from outside the grid (or from a masked band such
    as padding or a CCD gap) with 0, so the width of such a block reveals the virtual velocity
    v' exactly -- and a network that knows v' can place the telluric lines again. Zeroing a
    fixed guard band of :func:`guard_width` pixels around every masked run (and the grid edges)
    after each shift, and on the input at inference, hides v': the zeroed pixels are the same
    for every v'.

    Parameters
    ----------
    grid : Grid
    max_velocity : float
        N in km/s.
    static_mask : array (L,), optional
        The artifact mask shared by all spectra (1 = data); default all ones.

    Returns
    -------
    ndarray (L,), 1 on pixels the network sees, 0 on the static mask eroded by the guard width.
    """
    from scipy.ndimage import minimum_filter1d

    m = np.ones(grid.n, np.float32) if static_mask is None else np.asarray(static_mask, np.float32)
    if m.shape != (grid.n,):
        raise ValueError(f"static mask has shape {m.shape}, the grid has {grid.n} pixels")
    k = guard_width(grid, max_velocity)
    if k == 0:
        return (m > 0).astype(np.float32)
    return minimum_filter1d((m > 0).astype(np.float32), size=2 * k + 1, mode="constant", cval=0.0)


def mask_ranges(mask) -> list:
    """``[[start, stop), ...]`` index ranges where a 1-D 0/1 mask is 0 (compact metadata)."""
    z = np.concatenate([[0], (np.asarray(mask) <= 0).astype(np.int8), [0]])
    d = np.diff(z)
    return [[int(a), int(b)] for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1))]


def mask_from_ranges(ranges, n: int) -> np.ndarray:
    """Inverse of :func:`mask_ranges`: a float32 (n,) mask, 0 inside the ranges."""
    m = np.ones(n, np.float32)
    for a, b in ranges:
        if not 0 <= a < b <= n:
            raise ValueError(f"mask range [{a}, {b}) outside 0..{n}")
        m[a:b] = 0.0
    return m


def random_velocities(
    n: int, max_velocity: float, generator: torch.Generator | None = None, device=None, dtype=torch.float32
) -> torch.Tensor:
    """Draw ``n`` virtual radial velocities ``v ~ U(-N, N)`` (km/s).

    Parameters
    ----------
    n : int
    max_velocity : float
        N, km/s (0: all velocities 0).
    generator : torch.Generator, optional
    device, dtype : torch device and dtype of the result

    Returns
    -------
    Tensor, shape (n,)
        km/s.
    """
    if max_velocity < 0:
        raise ValueError(f"max_velocity must be >= 0, got {max_velocity}")
    gen_device = generator.device if generator is not None else device
    u = torch.rand(n, generator=generator, device=gen_device, dtype=dtype)
    return ((2 * u - 1) * max_velocity).to(device if device is not None else gen_device)


def whiten(
    flux: torch.Tensor,
    grid: Grid,
    max_velocity: float,
    mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    guard: torch.Tensor | None = None,
    velocities: torch.Tensor | None = None,
):
    """Velocity-whiten a batch: each spectrum is shifted by its own ``v ~ U(-N, N)``.

    Parameters
    ----------
    flux : Tensor, shape (B, L) or (B, 1, L)
    grid : Grid
    max_velocity : float
        N in km/s; 0 returns the input unchanged (the topocentric network).
    mask : Tensor like ``flux``, optional
    generator : torch.Generator, optional
        For reproducible draws.
    guard : Tensor, shape (L,), optional
        Static input mask (:func:`guard_mask`) multiplied into the shifted flux and mask, so
        that zero-filled blocks do not reveal v'.
    velocities : Tensor, shape (B,), optional
        The virtual velocities (km/s) to apply, drawn by the caller (e.g. a rank's share of a
        global batch's draws); default: drawn here with ``generator``.

    Returns
    -------
    flux_w : Tensor like ``flux``
    mask_w : Tensor like ``flux`` or None
    v : Tensor, shape (B,), km/s
    """
    B = flux.shape[0]
    if velocities is None:
        v = random_velocities(B, max_velocity, generator, device=flux.device)
    else:
        if velocities.shape != (B,):
            raise ValueError(f"velocities must have shape ({B},), got {tuple(velocities.shape)}")
        v = velocities.to(device=flux.device, dtype=flux.dtype)
    if max_velocity == 0:
        out, m = flux, mask
    else:
        out, m = velocity_shift(flux, v, grid, mask)
    if guard is not None:
        g = guard.to(device=flux.device, dtype=flux.dtype)
        out = out * g  # broadcasts over (B, L) or (B, 1, L)
        m = m * g if m is not None else None
    return out, m, v


def leading_mode_fraction(flux) -> float:
    """Fraction of the variance across observations carried by the leading principal component.

    ``flux``: array (N, L). Telluric lines at fixed wavelengths whose depths vary together put
    nearly all their variance in one mode (a covariance far from white, Fig. 4); velocity
    whitening spreads it over many modes, lowering this fraction.
    """
    import numpy as np

    a = np.asarray(flux, dtype=np.float64)
    a = a - a.mean(0)
    s = np.linalg.svd(a, compute_uv=False) ** 2
    return float(s[0] / s.sum())


def covariance(flux):
    """Pixel-by-pixel covariance matrix (L, L) across observations of ``flux`` (N, L)."""
    import numpy as np

    return np.cov(np.asarray(flux, dtype=np.float64).T)
