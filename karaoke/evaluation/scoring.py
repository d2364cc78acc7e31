"""The one scoring path: every metric of one method (a network, a baseline, any callable) on a
set of spectra, with whatever truth the spectra carry.

:func:`score` returns a :class:`Scores` of per-spectrum arrays; its :meth:`Scores.summary` (the
medians) and :meth:`Scores.rows` (one table row per spectrum) name each metric with the one
vocabulary of :data:`METRICS`, which every table, notebook, benchmark and the CLI use.

Which metrics a set of spectra allows:

* exact truth (a synthetic survey: ``stellar`` and ``transmission``): Qt and Qs against the exact
  truth and against the paper's pseudo-truth, the telluric ``leakage`` and ``stellar_response``
  (:func:`~karaoke.evaluation.metrics.line_responses`), the ``static_pattern`` on request;
* a telluric transmission only (a model fitted to real spectra, given as ``transmission``): Qt and
  Qs against the pseudo-truth, the ``transmission_rms`` of the transmission the method implies,
  and the ``leakage`` against that transmission
  (:func:`~karaoke.evaluation.metrics.telluric_leakage`);
* line templates (``templates``: spectra with BERVs and star identifiers, no truth): the
  estimated ``leakage_est`` and ``stellar_response_est``
  (:func:`~karaoke.evaluation.truthfree.self_responses`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from karaoke.evaluation.metrics import (
    MetricConfig,
    evaluate_reconstruction,
    line_responses,
    static_telluric_pattern,
    telluric_leakage,
    transmission_rms,
)
from karaoke.evaluation.truthfree import RANK_CONFIG, self_responses

#: Metric names, in table order: Qt and Qs (against the truth named by ``Scores.truth``), the
#: same against the pseudo-truth, the implied transmission's RMS, the line responses (exact or
#: against a reference transmission), their truth-free estimates, the static telluric pattern.
METRICS = (
    "Qt",
    "Qs",
    "Qt_pseudo",
    "Qs_pseudo",
    "transmission_rms",
    "leakage",
    "stellar_response",
    "leakage_est",
    "stellar_response_est",
    "static_pattern",
)


@dataclass(frozen=True)
class Scores:
    """Scores of one method on N spectra; a metric the spectra did not allow is None.

    Attributes
    ----------
    truth : str
        What ``Qt`` and ``Qs`` are measured against: ``"exact"`` or ``"pseudo"``; ``"none"``
        when the spectra carry no transmission.
    n : int
        Number of spectra scored.
    Qt, Qs, Qt_pseudo, Qs_pseudo, transmission_rms : ndarray (N,) or None
        Per spectrum (:data:`METRICS`).
    leakage, stellar_response, leakage_est, stellar_response_est : ndarray (N,) or None
        Per spectrum (:data:`METRICS`).
    static_pattern : float or None
        One value for the method (:func:`~karaoke.evaluation.metrics.static_telluric_pattern`).
    """

    truth: str
    n: int
    Qt: np.ndarray | None = None
    Qs: np.ndarray | None = None
    Qt_pseudo: np.ndarray | None = None
    Qs_pseudo: np.ndarray | None = None
    transmission_rms: np.ndarray | None = None
    leakage: np.ndarray | None = None
    stellar_response: np.ndarray | None = None
    leakage_est: np.ndarray | None = None
    stellar_response_est: np.ndarray | None = None
    static_pattern: float | None = None

    def metrics(self) -> tuple[str, ...]:
        """The names of the metrics computed, in :data:`METRICS` order."""
        return tuple(k for k in METRICS if getattr(self, k) is not None)

    def summary(self) -> dict:
        """Median of each metric computed over the spectra (NaN ignored), ``Qt_mean`` and ``Qs_mean``
        where Qt was computed, and ``n``: the spectra with a finite Qt (where Qt was computed; a
        spectrum with no telluric pixel has none), else all."""
        out = {"n": self.n if self.Qt is None else int(np.isfinite(self.Qt).sum())}
        for k in self.metrics():
            v = getattr(self, k)
            out[k] = float(v) if k == "static_pattern" else float(np.nanmedian(v))
        if self.Qt is not None:
            out["Qt_mean"], out["Qs_mean"] = float(np.nanmean(self.Qt)), float(np.nanmean(self.Qs))
        return out

    def rows(self, **columns) -> list[dict]:
        """One dict per spectrum: ``columns`` (copied into each), then each metric computed."""
        names = self.metrics()
        return [
            {
                **columns,
                **{
                    k: (float(getattr(self, k)) if k == "static_pattern" else float(getattr(self, k)[i])) for k in names
                },
            }
            for i in range(self.n)
        ]


def _reconstruct(method):
    f = getattr(method, "reconstruct", method)
    if not callable(f):
        raise TypeError(f"score needs a trained network or a callable (N, L) -> (N, L), got {type(method).__name__}")
    return f


def score(
    method,
    spectra,
    *,
    transmission=None,
    truth: str = "auto",
    templates=None,
    star_id=None,
    static: bool = False,
    recon=None,
    pixmask=None,
    chunk: int | None = None,
    cfg: MetricConfig = MetricConfig(),
) -> Scores:
    """Score one method on a set of spectra (see the module docstring for what each truth allows).

    Parameters
    ----------
    method : Karaoke or callable
        A trained network (its ``reconstruct``) or ``(N, L) float32 -> (N, L)``, e.g.
        ``PCABaseline(...).reconstruct`` or :func:`~karaoke.evaluation.metrics.lowpass_baseline`.
    spectra : Survey
        Normalised, topocentric spectra on one air-wavelength grid; ``stellar`` (exact
        telluric-free spectra) and ``transmission`` are used where present, ``meta['berv']``
        (km/s) with ``templates``.
    transmission : array (N, L) or (L,), optional
        A telluric transmission on the spectra's grid in their (topocentric) frame, in place of
        ``spectra.transmission`` (e.g. a model fitted to real spectra). Given, Qt and Qs are
        against the pseudo-truth and the leakage against it (no exact stellar truth is assumed).
    truth : {"auto", "exact", "pseudo"}
        What Qt and Qs are measured against: ``auto`` is ``exact`` where the spectra carry
        ``stellar`` and no ``transmission`` was given, else ``pseudo``.
    templates : (telluric (L,), stellar (N, L)), optional
        Line templates (:func:`~karaoke.evaluation.truthfree.line_templates`,
        :func:`~karaoke.evaluation.bottleneck.survey_templates`): given, the truth-free
        ``leakage_est`` and ``stellar_response_est`` are computed too.
    star_id : array (N,), optional
        Star identifiers for ``templates`` (default ``meta['star_id']``, else ``meta['object']``).
    static : bool
        Also the static telluric pattern (needs a transmission; N more reconstructions).
    recon : array (N, L), optional
        ``method(spectra.flux)`` when the caller has it already (not computed again).
    pixmask : array (L,) or (N, L), optional
        Artifact mask (1 = use) for Qt, Qs and the transmission RMS (default none).
    chunk : int, optional
        Spectra per call of the method in the truth-free responses (a network: 1 to 16).
    cfg : MetricConfig
        Thresholds of the exact metrics; the responses against a model transmission and the
        truth-free ones use :data:`~karaoke.evaluation.truthfree.RANK_CONFIG`, as the KL ladder.

    Returns
    -------
    Scores
    """
    f = _reconstruct(method)
    flux, wave = spectra.flux, spectra.wave
    if recon is None:
        recon = f(flux)
    recon = np.asarray(recon)
    if recon.shape != flux.shape:
        raise ValueError(f"the method returned shape {recon.shape} for spectra of shape {flux.shape}")
    model_t = transmission is not None
    trans = transmission if model_t else spectra.transmission
    stellar = None if model_t else spectra.stellar
    if truth not in ("auto", "exact", "pseudo"):
        raise ValueError(f"truth must be 'auto', 'exact' or 'pseudo', got {truth!r}")
    if truth == "exact" and stellar is None:
        raise ValueError("truth='exact' needs spectra with a 'stellar' truth and no model transmission")
    kind = "none" if trans is None else ("exact" if stellar is not None and truth != "pseudo" else "pseudo")
    out: dict = {"truth": kind, "n": int(flux.shape[0])}
    if trans is not None:
        pseudo = evaluate_reconstruction(recon, flux, wave, trans, pixmask=pixmask, cfg=cfg)
        out["Qt_pseudo"], out["Qs_pseudo"] = pseudo.qt, pseudo.qs
        if kind == "exact":
            ev = evaluate_reconstruction(recon, flux, wave, trans, stellar=stellar, pixmask=pixmask, cfg=cfg)
            out["Qt"], out["Qs"] = ev.qt, ev.qs
        else:
            out["Qt"], out["Qs"] = pseudo.qt, pseudo.qs
        if stellar is not None:
            out["leakage"], out["stellar_response"] = line_responses(f, flux, wave, trans, stellar, cfg, recon=recon)
        else:
            out["transmission_rms"] = transmission_rms(flux, recon, trans, pixmask=pixmask)
            out["leakage"] = telluric_leakage(f, flux, wave, trans, RANK_CONFIG, recon=recon)
        if static:
            out["static_pattern"] = static_telluric_pattern(f, flux, wave, trans, cfg)
    elif static:
        raise ValueError("the static telluric pattern needs a transmission")
    if templates is not None:
        meta = spectra.meta
        sid = star_id if star_id is not None else meta.get("star_id", meta.get("object"))
        if sid is None or meta.get("berv") is None:
            raise ValueError("the truth-free responses need a BERV ('berv') and a star id ('star_id') per spectrum")
        out["leakage_est"], out["stellar_response_est"] = self_responses(
            f,
            flux,
            wave,
            meta["berv"],
            np.asarray(sid),
            RANK_CONFIG,
            recon=recon,
            templates=templates,
            mask=spectra.pixel_mask(),
            chunk=chunk,
        )
    return Scores(**out)
