"""``karaoke evaluate``: score a trained network on a survey file."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from karaoke.cli._common import _print_json, _warn_partial


def add_parser(cmd, presets, default_preset):
    """Add the ``evaluate`` subcommand (``cmd(name, help, description)`` makes a subparser)."""
    e = cmd("evaluate", "Qt/Qs of a trained network on a survey file (one JSON object)",
            "Score a trained network on a survey with its telluric transmission: median Qt, Qs (exact "
            "truth where the survey has it, else the paper's pseudo-truth), and with exact truth the "
            "telluric leakage and stellar response. The survey must be on the model's grid, frame and "
            "medium. Held-out stars only when the survey is the training survey.")
    e.add_argument("run", type=Path, help="run folder or checkpoint file")
    e.add_argument("survey", type=Path, help="survey file (.npz) with a 'transmission' array")
    e.add_argument("--max-spectra", type=int, default=None, help="score at most this many spectra (default all)")
    e.add_argument("--pseudo-truth", action="store_true",
                   help="use the paper's pseudo-truth from the transmission instead of the exact truth")
    e.add_argument("--allow-partial", action="store_true",
                   help="accept a run whose training has not finished (refused by default)")
    e.set_defaults(func=run)
    return e


def run(a):
    from karaoke.evaluation.metrics import evaluate_reconstruction, line_responses
    from karaoke.nn.model import load_model
    from karaoke.spectra.survey import load_survey

    from karaoke.products.clean import check_survey_matches_model

    model = load_model(a.run, allow_partial=a.allow_partial)
    _warn_partial(model)
    survey = load_survey(a.survey)
    meta = model.checkpoint_meta
    check_survey_matches_model(survey, model, a.survey)
    if survey.transmission is None:
        raise ValueError(f"{a.survey}: evaluation needs a 'transmission' array (telluric model per spectrum)")
    norm, rejected = survey.normalised(meta.get("train_config", {}).get("min_median", 50.0))
    held_out = meta.get("data_hash") == survey.data_hash()
    if held_out:
        _, idx = norm.split(meta["train_config"]["holdout_fraction"])
    else:
        idx = np.arange(len(norm))
    idx = idx[: a.max_spectra] if a.max_spectra else idx
    sub = norm.subset(idx)
    recon = model.reconstruct(sub.flux)
    truth = None if a.pseudo_truth else sub.stellar
    ev = evaluate_reconstruction(recon, sub.flux, sub.wave, sub.transmission, stellar=truth,
                                 pixmask=sub.pixel_mask())
    out = {"Qt": round(ev.summary()["Qt"], 4), "Qs": round(ev.summary()["Qs"], 4),
           "Qt_mean": round(ev.summary()["Qt_mean"], 4), "Qs_mean": round(ev.summary()["Qs_mean"], 4),
           "n_spectra": int(len(sub)), "held_out": bool(held_out), "n_rejected": len(rejected),
           "truth": "pseudo-truth" if truth is None else "exact", "run": str(a.run), "survey": str(a.survey)}
    if sub.stellar is not None:  # exact truth at hand: how the output responds to each kind of line
        leak, star = line_responses(model.reconstruct, sub.flux, sub.wave, sub.transmission, sub.stellar,
                                    recon=recon)
        out.update(leakage=round(float(np.nanmedian(leak)), 4), stellar_response=round(float(np.nanmedian(star)), 4))
    out["partial_model"] = bool(meta.get("partial"))
    _print_json(out)
    return 0
