"""``karaoke evaluate``: score a trained network on a survey file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from karaoke.cli._common import print_json, warn_partial


def add_parser(cmd, presets, default_preset):
    """Add the ``evaluate`` subcommand (``cmd(name, help, description)`` makes a subparser)."""
    e = cmd(
        "evaluate",
        "Qt/Qs of a trained network on a survey file (one JSON object)",
        "Score a trained network on a survey: with its telluric transmission, median Qt, Qs (exact "
        "truth where the survey has it, else the paper's pseudo-truth), and with exact truth the "
        "telluric leakage and stellar response; with a BERV and a star id per spectrum (meta_berv, "
        "meta_star_id or meta_object), the same two responses estimated from the spectra alone "
        "(leakage_est, stellar_response_est: karaoke.evaluation.truthfree; real archives have no "
        "truth). The survey must be on the model's grid, frame and medium. Held-out stars only when "
        "the survey is the training survey.",
    )
    e.add_argument("run", type=Path, help="run folder or checkpoint file")
    e.add_argument(
        "survey",
        type=Path,
        help="survey file (.npz) with a 'transmission' array, or "
        "BERVs and star ids (meta_berv, meta_star_id), or a store "
        "folder from `karaoke prepare` (BERVs and objects)",
    )
    e.add_argument("--max-spectra", type=int, default=None, help="score at most this many spectra (default all)")
    e.add_argument(
        "--pseudo-truth",
        action="store_true",
        help="use the paper's pseudo-truth from the transmission instead of the exact truth",
    )
    e.add_argument(
        "--allow-partial", action="store_true", help="accept a run whose training has not finished (refused by default)"
    )
    e.set_defaults(func=run)
    return e


def run(a):
    from karaoke.evaluation.scoring import METRICS, score
    from karaoke.nn.checkpoint import load_model
    from karaoke.nn.training import normalised_once
    from karaoke.products.modelinfo import check_survey_matches_model
    from karaoke.spectra.survey import load_survey

    model = load_model(a.run, allow_partial=a.allow_partial)
    warn_partial(model)
    if a.survey.is_dir():  # a store from `karaoke prepare` (a real archive: no truth, BERVs and objects)
        from karaoke.archive.prepare import open_store

        survey = open_store(a.survey)
    else:
        survey = load_survey(a.survey)
    meta = model.meta.saved
    check_survey_matches_model(survey, model, a.survey)
    from karaoke.evaluation.bottleneck import star_ids, survey_templates

    try:
        star_ids(survey)
        truth_free, why = True, ""
    except ValueError as exc:
        truth_free, why = False, str(exc)
    if survey.transmission is None and not truth_free:
        raise ValueError(
            f"{a.survey}: evaluation needs a 'transmission' array (telluric model per spectrum), or a "
            f"BERV and a star id per spectrum (meta_berv, meta_star_id) for the truth-free responses: {why}"
        )
    norm, rejected = normalised_once(survey, meta.get("train_config", {}).get("min_median", 50.0))
    held_out = meta.get("data_hash") == survey.data_hash()
    if held_out:
        _, idx = norm.split(meta["train_config"]["holdout_fraction"])
    else:
        idx = np.arange(len(norm))
    idx = idx[: a.max_spectra] if a.max_spectra else idx
    sub = norm.subset(idx)
    out = {
        "n_spectra": int(len(sub)),
        "held_out": bool(held_out),
        "n_rejected": len(rejected),
        "run": str(a.run),
        "survey": str(a.survey),
    }
    templates = None
    if truth_free:  # the responses estimated from the spectra, their BERVs and stars alone
        try:
            templates, _ = survey_templates(norm, idx)
        except ValueError as exc:  # e.g. too narrow a BERV range to tell the lines apart
            if sub.transmission is None:
                raise ValueError(f"{a.survey}: {exc}") from None
            why = str(exc)
    scores = score(
        model,
        sub,
        truth="pseudo" if a.pseudo_truth else "auto",
        templates=templates,
        star_id=None if templates is None else star_ids(sub, check_span=False),
        pixmask=sub.pixel_mask(),
        chunk=16,  # a network: each spectrum on its own
    )
    summary = scores.summary()
    if scores.Qt is not None:
        out.update(
            {k: round(summary[k], 4) for k in ("Qt", "Qs", "Qt_mean", "Qs_mean")},
            truth="pseudo-truth" if scores.truth == "pseudo" else "exact",
        )
    out.update({k: round(summary[k], 4) for k in METRICS if k in summary and not k.startswith(("Qt", "Qs"))})
    if templates is None:
        out["truth_free_skipped"] = why
    out["partial_model"] = bool(meta.get("partial"))
    print_json(out)
    return 0
