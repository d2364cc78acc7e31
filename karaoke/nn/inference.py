"""The inference API of a trained network, shared by :class:`karaoke.nn.model.Karaoke` and its
ONNX Runtime engine (:class:`karaoke.nn.export.OnnxKaraoke`): deterministic reconstructions and
posterior draws, batched and guarded the same way for both."""

from __future__ import annotations

import functools

import numpy as np
import torch


def requires_trained(method):
    """Guard a method that needs trained weights (loaded from a checkpoint or trained)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if not getattr(self, "trained", False):
            raise RuntimeError(
                f"{type(self).__name__}.{method.__name__} needs a trained model: load one "
                "with karaoke.load_model(path) or train it (karaoke.nn.training.train)"
            )
        return method(self, *args, **kwargs)

    return wrapper


class Reconstructor:
    """The inference API shared by :class:`Karaoke` and its ONNX Runtime engine
    (:class:`karaoke.nn.export.OnnxKaraoke`): both batch, guard and draw through
    :func:`posterior_draws`. A subclass provides ``config``, ``input_guard``, ``trained``,
    ``_encode_batch``, ``_decode_batch`` and the ``_inference`` context.
    """

    @requires_trained
    def reconstruct(self, flux, batch_size: int = 16):
        """Deterministic reconstruction (z = mu) of normalised spectra.

        Parameters
        ----------
        flux : array or Tensor, shape (N, L)
            Median-normalised spectra on the model's grid (topocentric for the paper's use).
        batch_size : int
            Spectra reconstructed at once.

        Returns
        -------
        ndarray, shape (N, L), float32
            The reconstruction; on the guard band of a whitened network (``input_guard`` 0:
            padding, gaps and the grid edges widened by the largest whitening shift, where the
            network saw only zeros in training) the input is passed through unchanged, i.e.
            no telluric correction is claimed there.
        """
        with self._inference():
            return posterior_draws(
                self._encode_batch,
                self._decode_batch,
                flux,
                self.config.n_pixels,
                self.input_guard,
                None,
                batch_size,
                0,
            )[0]

    @requires_trained
    def reconstruct_samples(self, flux, n_samples: int = 16, batch_size: int = 16, seed=0):
        """Reconstructions from the posterior: ``z ~ q(z | x) = N(mu, exp(logvar))``, decoded.

        Their spread is the network's uncertainty about the telluric-free spectrum (for the AE,
        which has no posterior, every sample is the deterministic reconstruction).

        Parameters
        ----------
        flux : array or Tensor, shape (N, L)
            Median-normalised spectra on the model's grid (topocentric).
        n_samples : int
            K, draws per spectrum.
        batch_size : int
            Spectra encoded at once.
        seed : int or sequence of int
            Seed of the draws (the same seed gives the same samples, on any device and engine);
            one per spectrum makes each spectrum's draws independent of the others in the call
            and of ``batch_size``.

        Returns
        -------
        ndarray, shape (K, N, L), float32
            As :meth:`reconstruct` (the input passed through on the guard band) for each draw.
        """
        with self._inference():
            return posterior_draws(
                self._encode_batch,
                self._decode_batch,
                flux,
                self.config.n_pixels,
                self.input_guard,
                n_samples,
                batch_size,
                seed,
            )


def posterior_draws(encode, decode, flux, n_pixels: int, guard, n_samples, batch_size: int, seed):
    """Reconstructions of normalised spectra through any implementation of the network.

    Shared by :class:`karaoke.nn.model.Karaoke` and the ONNX Runtime engine (:mod:`karaoke.nn.export`), so that
    both batch, guard and draw identically: the noise ``eps`` of ``z = mu + eps * sigma`` is
    drawn on the CPU from torch generators, the same for every device and engine.

    Parameters
    ----------
    encode : callable
        ``x`` (b, 1, L) float32 CPU tensor -> ``(mu, logvar)``, each (b, D) (``logvar`` None
        for the AE), on any device.
    decode : callable
        ``z`` (b, D) -> reconstruction (b, L) float32 CPU tensor.
    flux : array or Tensor, shape (N, L)
        Median-normalised spectra on the model's grid (topocentric).
    n_pixels : int
        L, the network's input length (a spectrum of another length is refused).
    guard : array, shape (L,), or None
        The network's ``input_guard`` (0 where the input is passed through unchanged).
    n_samples : int or None
        K posterior draws per spectrum; None for the deterministic reconstruction (z = mu).
    batch_size : int
        Spectra encoded at once.
    seed : int or sequence of int
        Seed of the draws; one per spectrum makes each spectrum's draws independent of the
        others and of ``batch_size``.

    Returns
    -------
    ndarray, shape (K, N, L) float32 (K = 1 when ``n_samples`` is None)
    """
    if n_samples is not None and n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    x = torch.as_tensor(np.asarray(flux, dtype=np.float32))
    if x.dim() != 2:
        raise ValueError(f"flux must be 2-D (spectra, pixels), got shape {tuple(x.shape)}")
    if x.shape[1] != n_pixels:
        raise ValueError(f"input has {x.shape[1]} pixels, the model expects {n_pixels}")
    if np.ndim(seed) == 0:
        gens = [torch.Generator().manual_seed(int(seed))]
    else:
        if len(seed) != x.shape[0]:
            raise ValueError(f"{len(seed)} seeds for {x.shape[0]} spectra")
        gens = [torch.Generator().manual_seed(int(s)) for s in seed]
    g = None if guard is None else torch.as_tensor(np.asarray(guard, np.float32))
    K = 1 if n_samples is None else n_samples
    out = np.empty((K,) + tuple(x.shape), np.float32)
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size]  # (b, L)
        mu, logvar = encode((xb if g is None else xb * g)[:, None, :].contiguous())  # (b, D) each
        for k in range(K):
            z = mu
            if logvar is not None and n_samples is not None:  # drawn on the CPU: the same on any device
                if len(gens) == 1:
                    eps = torch.randn(mu.shape, generator=gens[0])
                else:
                    eps = torch.stack([torch.randn(mu.shape[1:], generator=g_) for g_ in gens[i : i + batch_size]])
                z = mu + eps.to(mu.device) * torch.exp(0.5 * logvar)
            y = decode(z)  # (b, L)
            out[k, i : i + batch_size] = (y if g is None else torch.where(g > 0, y, xb)).numpy()
    return out
