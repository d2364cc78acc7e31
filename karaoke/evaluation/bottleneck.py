"""Choose the bottleneck (the KL weight) for a data set without truth.

How tight the VAE's bottleneck must be depends on the data: in karaoke's O2 window the stellar
lines are lost above a KL weight of ~0.5, in its H2O window the water lines leak below it, and
a survey from another generator wants yet another value (docs/history.md). So no
fixed weight serves every archive. :func:`train_kl_ladder` trains one network per candidate
weight on the same survey and keeps the one whose held-out spectra show the best separation
(:func:`karaoke.evaluation.truthfree.rank_networks`: stellar response minus telluric leakage,
both estimated from the spectra, their BERVs and star identifiers alone).

Layout of the output folder ``OUT``::

    OUT/kl-0.04/  OUT/kl-0.3/  OUT/kl-1/   one run folder per weight (each resumable)
    OUT/choice.json                        the ranking, the weights tried, the chosen one
    OUT/model.pt, run.json, history.csv    copies of the chosen run (``karaoke evaluate OUT``)
"""

from __future__ import annotations

import shutil
import warnings

import numpy as np

from karaoke._atomic import atomic_path, check_output_dir, write_json
from karaoke.evaluation.truthfree import RANK_CONFIG, line_templates, rank_networks
from karaoke.nn.checkpoint import load_model
from karaoke.nn.training import TrainingDiverged, prepare_training_data, train
from karaoke.presets import KL_LADDER

#: Most held-out spectra the ranking reconstructs.
MAX_RANK_SPECTRA = 400
#: Most spectra (held-out ones and a sample of the training ones) the line templates average,
#: and most values (spectra x pixels) they hold (610 spectra of the paper's 327680 pixels).
MAX_TEMPLATE_SPECTRA = 2000
MAX_TEMPLATE_VALUES = 2e8


def star_ids(survey, check_span: bool = True):
    """Per-spectrum star identifiers of a survey: ``meta['star_id']``, else ``meta['object']``.

    ``check_span=False`` skips the BERV-range check (for a subset whose line templates come
    from a larger set).

    Raises
    ------
    ValueError
        If neither is present, or the BERV (``meta['berv']``) is missing, not finite or spans
        less than 1 km/s.
    """
    meta = survey.meta
    sid = meta.get("star_id", meta.get("object"))
    if sid is None:
        raise ValueError(
            "the truth-free responses need each spectrum's star: a 'meta_star_id' (or "
            "'meta_object') array in the survey"
        )
    berv = meta.get("berv")
    if berv is None or not np.all(np.isfinite(np.asarray(berv, dtype=float))):
        raise ValueError("the truth-free responses need a finite BERV per spectrum ('meta_berv', km/s)")
    if check_span and np.ptp(np.asarray(berv, dtype=float)) < 1.0:
        raise ValueError(
            f"the BERVs span only {np.ptp(np.asarray(berv, dtype=float)):.2f} km/s: telluric and "
            "stellar lines cannot be told apart from the data"
        )
    return np.asarray(sid)


def survey_templates(norm, rows, cfg=RANK_CONFIG, max_spectra: int = MAX_TEMPLATE_SPECTRA):
    """Line templates (:func:`karaoke.evaluation.truthfree.line_templates`) for some spectra
    of a normalised survey, estimated from them and an even sample of the others (more stars
    smear the stellar lines out of the telluric estimate better).

    Parameters
    ----------
    norm : Survey
        Normalised, topocentric, with ``meta['berv']`` and star identifiers (:func:`star_ids`).
    rows : array of int
        The spectra whose templates are wanted.
    cfg : MetricConfig
    max_spectra : int
        Most spectra averaged (``rows`` always included; fewer where the spectra are long,
        :data:`MAX_TEMPLATE_VALUES`).

    Returns
    -------
    (telluric (L,), stellar (len(rows), L)), n_spectra_used
    """
    rows = np.asarray(rows, dtype=int)
    others = np.setdiff1d(np.arange(len(norm)), rows)
    max_spectra = min(max_spectra, int(MAX_TEMPLATE_VALUES // max(1, norm.n_pixels)))  # ~1.6 GB per float64 array
    k = min(others.size, max(0, max_spectra - rows.size))
    extra = others[np.unique(np.linspace(0, others.size - 1, k).astype(int))] if k else others[:0]
    pool = norm.subset(np.concatenate([rows, extra]))
    tell, stellar = line_templates(
        pool.flux, pool.wave, pool.meta["berv"], star_ids(pool), cfg, mask=pool.pixel_mask()
    )  # padding and gaps are no lines
    return (tell, stellar[: rows.size]), int(len(pool))


def _folder(weight: float) -> str:
    return f"kl-{weight:g}"


def _ladder_weights(survey, model_config, kl_weights) -> list:
    """The candidate weights, sorted, after the checks that must pass before any training."""
    if not model_config.variational:
        raise ValueError("the KL ladder is for the VAE (the autoencoder has no KL term)")
    weights = sorted({float(w) for w in kl_weights})
    if len(weights) < 2 or weights[0] <= 0:
        raise ValueError(f"need at least two KL weights > 0 to choose from, got {list(kl_weights)}")
    star_ids(survey)  # fail before any training
    return weights


def _train_each(weights, fit, where) -> tuple[dict, dict]:
    """``fit(w)`` -> trained network for each weight; a diverged training is left out with a
    warning (weight -> message in the second dict), and it is an error only when all diverge."""
    models, diverged = {}, {}
    for w in weights:
        try:
            models[w] = fit(w)
        except TrainingDiverged as exc:  # the others can still be chosen from: go on, and say so
            diverged[w] = str(exc)
            warnings.warn(f"KL weight {w:g} left out of the ladder: {exc}", RuntimeWarning, stacklevel=3)
    if not models:
        raise TrainingDiverged(f"{where}: every network of the KL ladder diverged: {diverged}")
    return models, diverged


def _choice(survey, train_config, models, weights, diverged, min_stellar_response) -> dict:
    """The ladder's ``choice``: :func:`rank_ladder` with the weights tried and those that diverged."""
    choice = {**rank_ladder(survey, train_config, models, min_stellar_response), "kl_weights": weights}
    if diverged:
        choice["diverged"] = {f"{w:g}": msg for w, msg in diverged.items()}
    return choice


def rank_ladder(survey, train_config, models: dict, min_stellar_response: float = 0.6) -> dict:
    """Rank trained networks of one recipe (e.g. a KL ladder) on the held-out spectra of the
    split they were trained with, without truth.

    Parameters
    ----------
    survey : Survey
        The topocentric survey they were trained on, with BERVs and star identifiers.
    train_config : TrainConfig
        Their recipe (its ``holdout_fraction`` gives the split; the other fields do not matter).
    models : dict
        Label (e.g. the KL weight) -> trained network.
    min_stellar_response : float
        As in :func:`~karaoke.evaluation.truthfree.rank_networks`.

    Returns
    -------
    dict
        ``chosen`` (the best label), ``ranking`` (rows of ``kl_weight`` (the label), leakage,
        stellar_response, separation, best first), ``n_spectra``, ``n_template_spectra``,
        ``star_key``, ``method``.
    """
    norm, _, test, _ = prepare_training_data(survey, train_config)  # the training's own split
    test = test[:MAX_RANK_SPECTRA]
    templates, n_pool = survey_templates(norm, test)
    sub = norm.subset(test)
    rows = rank_networks(
        {w: m.reconstruct for w, m in models.items()},
        sub.flux,
        sub.wave,
        sub.meta["berv"],
        star_ids(sub, check_span=False),
        min_stellar_response=min_stellar_response,
        templates=templates,
        mask=sub.pixel_mask(),
    )
    ranking = [
        {"kl_weight": r["label"], **{k: round(r[k], 4) for k in ("leakage", "stellar_response", "separation")}}
        for r in rows
    ]
    return {
        "chosen": ranking[0]["kl_weight"],
        "ranking": ranking,
        "n_spectra": int(len(sub)),
        "n_template_spectra": n_pool,
        "star_key": "star_id" if "star_id" in sub.meta else "object",
        "method": "karaoke.evaluation.truthfree.rank_networks (held-out spectra, no truth)",
    }


def ladder_jobs(survey, model_config, train_config, kl_weights=KL_LADDER) -> list[tuple]:
    """The networks :func:`ladder_cached` trains: one job per KL weight, as
    :func:`karaoke.nn.pool.train_many` takes them (e.g. to train them side by side first).

    Parameters
    ----------
    survey, model_config, train_config, kl_weights
        As in :func:`train_kl_ladder`.

    Returns
    -------
    list of (Survey, ModelConfig, TrainConfig)
    """
    return [
        (survey, model_config, train_config.at_kl_weight(w)) for w in _ladder_weights(survey, model_config, kl_weights)
    ]


def ladder_cached(
    survey,
    model_config,
    train_config,
    kl_weights=KL_LADDER,
    root=None,
    device="auto",
    progress: bool = True,
    min_stellar_response: float = 0.6,
):
    """:func:`train_kl_ladder` through the run cache: each weight's network is the one
    :func:`karaoke.nn.training.train_cached` returns (trained only if missing, shared with any
    other use of the same recipe), and the best separated one is chosen without truth.

    Parameters
    ----------
    survey, model_config, train_config, kl_weights, device, progress, min_stellar_response
        As in :func:`train_kl_ladder`.
    root : path, optional
        As in :func:`~karaoke.nn.training.train_cached`.

    Returns
    -------
    model : Karaoke
        The chosen network.
    choice : dict
        As :func:`train_kl_ladder`'s (``chosen``, ``ranking``, ``kl_weights``...), with each
        weight's ``run_dirs``.
    """
    from karaoke.nn.training import train_cached

    jobs = {job[2].kl_weight: job for job in ladder_jobs(survey, model_config, train_config, kl_weights)}
    weights = list(jobs)
    models, diverged = _train_each(
        weights, lambda w: train_cached(*jobs[w], root, device=device, progress=progress), "the cached KL ladder"
    )
    choice = _choice(survey, train_config, models, weights, diverged, min_stellar_response)
    choice["run_dirs"] = {f"{w:g}": str(m.run_dir) for w, m in models.items()}
    return models[choice["chosen"]], choice


def train_kl_ladder(
    survey,
    model_config,
    train_config,
    out,
    kl_weights=KL_LADDER,
    device="auto",
    progress: bool = True,
    min_stellar_response: float = 0.6,
) -> dict:
    """Train one network per KL weight and keep the best separated one (no truth used).

    Parameters
    ----------
    survey : Survey
        Topocentric spectra with ``meta['berv']`` (km/s) and ``meta['star_id']`` (or ``object``).
    model_config, train_config : ModelConfig, TrainConfig
        The recipe; only ``kl_weight`` changes between the networks (a VAE's), and rungs above
        the recipe's weight drop its free nats (:meth:`~karaoke.nn.training.TrainConfig.at_kl_weight`).
    out : path
        Output folder (layout in the module docstring). Re-running resumes or skips the weights
        already trained.
    kl_weights : sequence of float
        Candidate weights (at least two, all > 0).
    device, progress
        As in :func:`karaoke.nn.training.train`.
    min_stellar_response : float
        As in :func:`~karaoke.evaluation.truthfree.rank_networks`.

    Returns
    -------
    dict
        The content of ``OUT/choice.json``: ``chosen`` (weight), ``ranking`` (rows of weight,
        leakage, stellar_response, separation, best first), ``n_spectra`` (held-out spectra
        ranked), ``n_template_spectra``, ``star_key``; ``diverged`` (weight -> message) for
        networks whose training diverged (:class:`~karaoke.nn.training.TrainingDiverged`: left
        out of the ranking with a warning; a re-run retries them from their last good
        checkpoint).

    Raises
    ------
    TrainingDiverged
        When every network of the ladder diverged.
    """
    weights = _ladder_weights(survey, model_config, kl_weights)
    out = check_output_dir(out, "output folder")

    def fit(w):
        train(survey, model_config, train_config.at_kl_weight(w), out / _folder(w), device=device, progress=progress)
        return load_model(out / _folder(w) / "model.pt")

    models, diverged = _train_each(weights, fit, out)
    choice = _choice(survey, train_config, models, weights, diverged, min_stellar_response)
    best = out / _folder(choice["chosen"])
    for name in ("model.pt", "run.json", "history.csv"):
        with atomic_path(out / name) as tmp:
            shutil.copyfile(best / name, tmp)
    write_json(out / "choice.json", choice)
    return choice
