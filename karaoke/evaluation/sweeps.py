"""Families of networks that differ in one setting (Section 5): train each point once through
the cache, evaluate on held-out spectra, return a tidy table (one row per network x spectrum).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from karaoke._atomic import write_csv
from karaoke.evaluation.scoring import score
from karaoke.presets import Point, heldout, preset_models, preset_survey


def run_sweep(
    preset: str, points, progress: bool = False, workers: int | None = None, float_path: str = "native"
) -> list[dict]:
    """Train (or reuse) and evaluate each point; the points not yet trained are trained side by
    side (:func:`karaoke.presets.preset_models`).

    Parameters
    ----------
    preset : str or Preset
        Preset (a name of :data:`karaoke.presets.PRESETS` or a :class:`karaoke.presets.Preset`).
    points : iterable of Point or dict
        The networks (:class:`karaoke.presets.Point`), e.g. ``Point(velocity=5.0)``.
    progress : bool
        Show training progress.
    workers : int, optional
        Training processes (default: one per CPU thread; :func:`karaoke.nn.pool.plan`).
    float_path : str
        CPU kernels to train with (:data:`karaoke.nn.pool.FLOAT_PATHS`).

    Returns
    -------
    rows : list of dict
        ``label, velocity, latent_dim, variational, kl_weight, spectrum, star_id, Qt, Qs`` per
        held-out spectrum (exact truth of the synthetic survey), ``Qt_pseudo, Qs_pseudo``
        against the paper's pseudo-truth, ``leakage``, ``stellar_response``
        (:func:`karaoke.evaluation.metrics.line_responses`) and the network's ``static_pattern``
        (:func:`karaoke.evaluation.metrics.static_telluric_pattern`, one value per network).
    """
    survey = preset_survey(preset)
    test, _ = heldout(survey, preset)
    points = [Point.of(p) for p in points]
    models = preset_models(preset, points, survey=survey, progress=progress, workers=workers, float_path=float_path)
    rows = []
    for p, model in zip(points, models):
        rows += score_model(
            model, test, label=p.label, velocity=p.velocity, latent_dim=p.latent_dim, variational=p.variational
        )
    return rows


def score_model(model, test, **columns) -> list[dict]:
    """:func:`karaoke.evaluation.scoring.score` of one trained network on held-out spectra with
    exact truth, as table rows: one per spectrum (see :func:`run_sweep`), with the network's KL
    weight and seed and the spectrum's index and star; ``columns`` (label, velocity, ...) are
    copied into each row.

    Parameters
    ----------
    model : Karaoke
        A trained network (``reconstruct`` available).
    test : Survey
        Normalised held-out spectra with ``stellar`` and ``transmission`` truth and
        ``meta['source_index']``, ``meta['star_id']``.
    **columns
        Values copied into every row (``label``, ``velocity``, ...).
    """
    tc = model.meta.saved.get("train_config", {})
    var = bool(columns.get("variational", model.config.variational))
    base = {"kl_weight": float(tc.get("kl_weight", 0.0)) if var else 0.0, "seed": int(tc.get("seed", 0)), **columns}
    rows = score(model, test, truth="exact", static=True).rows()
    return [
        {**base, "spectrum": int(test.meta["source_index"][i]), "star_id": int(test.meta["star_id"][i]), **r}
        for i, r in enumerate(rows)
    ]


def summarise(rows, by: str = "label") -> list[dict]:
    """Median Qt, Qs (and their interquartile ranges), telluric leakage, stellar response and
    static telluric pattern per value of ``by``, in first-seen order.

    Parameters
    ----------
    rows : list of dict
        One row per spectrum and network (:func:`run_sweep`, :func:`score_model`).
    by : str
        Column to group by.

    Returns
    -------
    list of dict
        One row per group.
    """
    out = {}
    for r in rows:
        out.setdefault(r[by], []).append(r)
    summary = []
    for key, rs in out.items():
        qt = np.array([r["Qt"] for r in rs])
        qs = np.array([r["Qs"] for r in rs])
        summary.append(
            {
                by: key,
                "n": len(rs),
                "Qt": float(np.nanmedian(qt)),
                "Qs": float(np.nanmedian(qs)),
                "Qt_iqr": float(np.subtract(*np.nanpercentile(qt, [75, 25]))),
                "Qs_iqr": float(np.subtract(*np.nanpercentile(qs, [75, 25]))),
                "leakage": float(np.nanmedian([float(r.get("leakage", np.nan)) for r in rs])),
                "stellar_response": float(np.nanmedian([float(r.get("stellar_response", np.nan)) for r in rs])),
                "static_pattern": float(np.nanmedian([float(r.get("static_pattern", np.nan)) for r in rs])),
            }
        )
    return summary


def write_table(rows, path) -> Path:
    """Write rows as CSV atomically.

    Parameters
    ----------
    rows : list of dict
        Rows with the same keys (the header).
    path : path

    Returns
    -------
    Path
    """
    return write_csv(path, rows)


def read_table(path) -> list[dict]:
    """Read a CSV written by :func:`write_table`.

    Parameters
    ----------
    path : path

    Returns
    -------
    list of dict
        Values as strings (as :class:`csv.DictReader` gives them).
    """
    with open(path) as fh:
        return list(csv.DictReader(fh))


#: The tables ``make figures`` writes (into ``figures/``) that :func:`figure_tables` reads:
#: (key, file, column summarised by, type of that column).
FIGURE_TABLES = (
    ("velocity", "table_fig7_whitening_sweep.csv", "velocity", float),
    ("variational", "table_fig8_ae_vs_vae.csv", "variational", lambda s: s == "True"),
    ("latent", "table_fig9_compression_sweep.csv", "latent_dim", int),
)
_METRICS = ("Qt", "Qs", "leakage", "stellar_response", "static_pattern")


def figure_tables(folder) -> dict:
    """The summaries of the tables the notebooks of ``make figures`` wrote, in the form
    :func:`karaoke.evaluation.claims.figure_claims` reads.

    Parameters
    ----------
    folder : path
        The figures folder (``table_primary_metrics.csv`` of notebook 03 and the sweep tables
        of notebooks 04-06); a missing table leaves its key out.

    Returns
    -------
    dict
        ``primary`` (``whitened``/``topocentric`` -> medians with the exact truth), ``velocity``
        (N km/s -> summary), ``variational`` (bool -> summary), ``latent`` (int -> summary);
        summaries as :func:`summarise` gives them.
    """
    folder = Path(folder)
    out = {}
    primary = folder / "table_primary_metrics.csv"
    if primary.exists():
        rows = {r["method"]: r for r in read_table(primary) if r["truth"] == "exact"}
        out["primary"] = {
            key: {m: float(rows[name][m]) for m in _METRICS}
            for key, name in (("whitened", "VAE whitened"), ("topocentric", "VAE topocentric"))
        }
    for key, name, column, cast in FIGURE_TABLES:
        if (folder / name).exists():
            rows = [
                dict(r, **{m: float(r[m]) for m in _METRICS}, **{column: cast(r[column])})
                for r in read_table(folder / name)
            ]
            out[key] = {s[column]: s for s in summarise(rows, by=column)}
    return out
