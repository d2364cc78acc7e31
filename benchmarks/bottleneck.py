"""Choosing the bottleneck without truth, checked against the truth: one table, one CSV.

For each family of networks that differ only in their bottleneck -- a ladder of KL weights in
karaoke's O2 window (``regime``) and H2O window (``regime-h2o-half``: its width-0.5 network), and
the latent sizes of Fig. 9 with the AE -- the exact telluric leakage and stellar response
(:func:`karaoke.evaluation.metrics.line_responses`, from the survey's truth) are printed next to
the estimates made from the spectra, their BERVs and star identifiers alone
(:mod:`karaoke.evaluation.truthfree`), with Qt and Qs, and which network each ranking picks
(:func:`~karaoke.evaluation.truthfree.rank_networks`: the best separated one, stellar response
minus leakage, among those whose stellar response is at least 0.6). Networks come from the
cache (``data/cache``) or are trained. With ``--independent WORK`` the KL ladders that
``benchmarks/independent.py --work WORK`` trained through the CLI are scored too. On real spectra
(alpha Cen B, 88 HARPS spectra of one star, the networks of notebook 07) the estimated leakage
is compared with the one measured against the shared standard-atmosphere model.

    python benchmarks/bottleneck.py [--independent data/cache/independent]
    python benchmarks/bottleneck.py --smoke        # the same path at a tiny size (seconds)

Writes ``docs/results/bottleneck.csv`` (none with ``--smoke``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
#: family -> (preset, points); the KL weights trained in sessions 6-8, the latent sizes of Fig. 9
FAMILIES = {
    "O2 6315, KL weight": ("regime", [{"kl_weight": w} for w in (0.03, 0.1, 0.5, 1.0)]),
    "H2O 6540, KL weight": ("regime-h2o-half", [{"kl_weight": w, "epochs": 60} for w in (0.03, 0.3, 0.5, 0.7, 1.0)]),
    "O2 6315, latent size": (
        "regime",
        [{"latent_dim": d} for d in (2, 8, 32, 128, 512, 1024)] + [{"variational": False}],
    ),
}
SMOKE = {"smoke, KL weight": ("ci", [{"kl_weight": w, "epochs": 1} for w in (0.03, 1.0)])}
#: The scores of each network (:data:`karaoke.evaluation.METRICS` names): exact, then estimated.
COLUMNS = ("Qt", "Qs", "leakage", "stellar_response", "leakage_est", "stellar_response_est")


def label(point: dict) -> str:
    if point.get("variational") is False:
        return "AE"
    if "latent_dim" in point:
        return f"latent {point['latent_dim']}"
    return f"KL {point['kl_weight']:g}"


def family_rows(family, labels, models, test, norm, rows_idx) -> list[dict]:
    """Exact and estimated responses, Qt, Qs of each network of one family; the two picks."""
    from karaoke.evaluation import score
    from karaoke.evaluation.bottleneck import star_ids, survey_templates

    templates, _ = survey_templates(norm, rows_idx)
    rows = []
    for lab, m in zip(labels, models):
        s = score(
            m, test, truth="exact", templates=templates, star_id=star_ids(test, False), pixmask=test.pixel_mask()
        ).summary()
        rows.append({"family": family, "network": lab, **{k: s[k] for k in COLUMNS}})
    mark(rows)
    return rows


def alpha_cen_b_rows(preset_name: str) -> list[dict]:
    """Real spectra: the two networks notebook 07 trains on alpha Cen B (alone, and mixed with
    the preset's synthetic survey), on its 88 HARPS spectra (one star). No exact truth: the
    leakage is measured against the shared standard-atmosphere model fitted to each exposure
    (:func:`karaoke.archive.realdata.telluric_reference`), Qt and Qs against the paper's
    pseudo-truth; the stellar response has no reference here (NaN)."""
    from karaoke.archive.realdata import alpha_cen_b_path, alpha_cen_b_training, load_alpha_cen_b, telluric_reference
    from karaoke.evaluation import score
    from karaoke.evaluation.truthfree import RANK_CONFIG, line_templates
    from karaoke.nn.training import train_cached
    from karaoke.presets import get_preset, preset_survey

    if not alpha_cen_b_path().exists():
        print(f"alpha Cen B skipped: {alpha_cen_b_path()} is absent")
        return []
    sc = get_preset(preset_name)
    start, n = sc.survey.grid_start, sc.survey.n_pixels
    real, mixed = alpha_cen_b_training(start, n, synth=preset_survey(preset_name).normalised()[0])
    bary, _ = load_alpha_cen_b(start, n).normalised()
    ref = telluric_reference(bary)  # (88, L) topocentric
    mc = sc.model_config()
    # notebook 07's networks at the preset's KL weight (its star-alone network is now the ladder's choice)
    nets = {
        "alone": train_cached(real, mc, sc.train_config(30.0, epochs=300)),
        "mixed": train_cached(mixed, mc, sc.train_config(30.0)),
    }
    star = np.zeros(len(real), dtype=int)
    templates = line_templates(real.flux, real.wave, real.meta["berv"], star, RANK_CONFIG, mask=real.pixel_mask())
    rows = []
    for lab, m in nets.items():
        s = score(m, real, transmission=ref, templates=templates, star_id=star, pixmask=real.pixel_mask()).summary()
        rows.append(
            {
                "family": "alpha Cen B (real)",
                "network": lab,
                **{k: s.get(k, float("nan")) for k in COLUMNS},  # no stellar truth: no stellar response
                "pick_est": False,
                "pick_truth": False,
            }
        )
    return rows


def _pick(rows, leak, star) -> str:
    from karaoke.evaluation.truthfree import rank_key

    return min(rows, key=lambda r: rank_key(r[star], r[leak]))["network"]


def mark(rows):
    """Add ``pick_est`` / ``pick_truth``: the network the truth-free / the exact ranking chooses."""
    est, truth = _pick(rows, "leakage_est", "stellar_response_est"), _pick(rows, "leakage", "stellar_response")
    for r in rows:
        r["pick_est"], r["pick_truth"] = r["network"] == est, r["network"] == truth


def independent_rows(work: Path) -> list[dict]:
    """The KL ladders of ``benchmarks/independent.py --work WORK`` (whitened networks)."""
    from karaoke.evaluation.bottleneck import MAX_RANK_SPECTRA, star_ids
    from karaoke.nn.checkpoint import load_model
    from karaoke.nn.training import TrainConfig, prepare_training_data
    from karaoke.spectra.survey import load_survey

    out = []
    for ladder in sorted(work.glob("ladder_*_N30")):
        name = ladder.name.split("_")[1]
        survey = load_survey(work / f"independent_{name}.npz")
        runs = sorted(ladder.glob("kl-*"), key=lambda p: float(p.name[3:]))
        models = [load_model(r / "model.pt") for r in runs if (r / "model.pt").exists()]
        if len(models) < 2:
            continue
        tc = TrainConfig.from_dict(models[0].meta.saved["train_config"])
        norm, _, idx, _ = prepare_training_data(survey, tc)  # the training's own split
        idx = idx[:MAX_RANK_SPECTRA]
        star_ids(norm)
        out += family_rows(
            f"independent {name}, KL weight",
            [f"KL {float(r.name[3:]):g}" for r in runs],
            models,
            norm.subset(idx),
            norm,
            idx,
        )
    return out


def picked_by(row) -> str:
    """Which ranking chose this network: "estimate", "truth", both or neither."""
    return " + ".join(w for w, k in (("estimate", "pick_est"), ("truth", "pick_truth")) if row[k])


def main(argv=None) -> int:
    from karaoke import presets
    from karaoke._atomic import write_csv

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="two 1-epoch networks of the ci preset")
    p.add_argument("--independent", type=Path, default=None, help="WORK folder of benchmarks/independent.py")
    p.add_argument("--out", type=Path, default=None, help="CSV (default docs/results/bottleneck.csv)")
    a = p.parse_args(argv)
    rows = []
    for family, (preset, points) in (SMOKE if a.smoke else FAMILIES).items():
        survey = presets.preset_survey(preset)
        test, norm = presets.heldout(survey, preset)
        _, idx = presets.split_indices(norm, preset)
        idx = idx[: len(test)]
        models = presets.preset_models(preset, [{"velocity": 30.0, **pt} for pt in points], survey=survey)
        rows += family_rows(family, [label(pt) for pt in points], models, test, norm, idx)
    if a.independent:
        rows += independent_rows(a.independent)
    if not a.smoke:
        rows += alpha_cen_b_rows("regime")
    print(f"{'family':>24} {'network':>11} {'Qt':>5} {'Qs':>5} {'leak':>5} {'star':>5} {'leak~':>5} {'star~':>5}  pick")
    for r in rows:
        picks = ("est " if r["pick_est"] else "") + ("truth" if r["pick_truth"] else "")
        print(f"{r['family']:>24} {r['network']:>11} " + " ".join(f"{r[k]:5.2f}" for k in COLUMNS) + f"  {picks}")
    exact = [r for r in rows if np.isfinite(r["stellar_response"])]
    err = np.array(
        [[r["leakage_est"] - r["leakage"], r["stellar_response_est"] - r["stellar_response"]] for r in exact]
    )
    print(
        f"estimate - truth over {len(exact)} synthetic networks: leakage {np.median(err[:, 0]):+.2f} (median), "
        f"max |.| {np.abs(err[:, 0]).max():.2f}; stellar response {np.median(err[:, 1]):+.2f}, "
        f"max |.| {np.abs(err[:, 1]).max():.2f}"
    )
    fams = sorted({r["family"] for r in exact})
    agree = sum(
        next(r["network"] for r in exact if r["family"] == f and r["pick_est"])
        == next(r["network"] for r in exact if r["family"] == f and r["pick_truth"])
        for f in fams
    )
    print(f"the truth-free pick is the exact pick in {agree} of {len(fams)} families")
    if not a.smoke:
        out = a.out or ROOT / "docs" / "results" / "bottleneck.csv"
        write_csv(
            out,
            [
                {
                    **{k: v for k, v in r.items() if not k.startswith("pick_")},
                    **{k: f"{r[k]:.2f}" for k in COLUMNS},
                    "picked_by": picked_by(r),
                }
                for r in rows
            ],
        )
        print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
