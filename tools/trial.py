"""Whitened vs topocentric networks of a preset variant, with every metric (a recipe trial).

A variant of a preset (another window, training length, schedule, KL weight, ...) is built as a
new preset object (nothing global is modified), trained through the same cache as the notebooks,
and both networks are scored on the held-out stars with :func:`karaoke.evaluation.sweeps.score_model`.
Prints one table, with the seconds each network took to train on this machine::

    python tools/trial.py --preset regime --epochs 30 --lr 3e-3 --lr-schedule onecycle
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from karaoke import presets
from karaoke.evaluation.sweeps import score_model, summarise
from karaoke.nn.training import load_history


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", "--scale", dest="preset", default="regime", help="preset to start from (default regime)")
    p.add_argument("--grid-start", type=float, default=None, help="first pixel of the window (air A)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--kl-weight", type=float, default=None)
    p.add_argument("--kl-warmup", type=int, nargs=2, default=None, metavar=("FIRST", "LAST"))
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--lr-schedule", default=None, choices=["constant", "onecycle"])
    p.add_argument("--loss-reduction", default=None, choices=["mean", "sum"])
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--width", type=float, default=None, help="channel multiplier of the network")
    p.add_argument("--n-spectra", type=int, default=None)
    p.add_argument("--n-stars", type=int, default=None)
    p.add_argument("--seed", type=int, default=None, help="training seed")
    p.add_argument("--grad-clip", type=float, default=None, help="gradient-norm clipping threshold (0: none)")
    p.add_argument("--topocentric-only", action="store_true", help="train and score the topocentric network alone")
    p.add_argument("--velocity", type=float, default=30.0, help="N of the whitened network (km/s)")
    p.add_argument("--whitened-only", action="store_true", help="train and score the whitened network alone")
    a = p.parse_args(argv)
    base = presets.get_preset(a.preset)
    survey_kw = {
        k: v
        for k, v in (("grid_start", a.grid_start), ("n_spectra", a.n_spectra), ("n_stars", a.n_stars))
        if v is not None
    }
    train_kw = {
        k: v
        for k, v in (
            ("epochs", a.epochs),
            ("kl_weight", a.kl_weight),
            ("lr", a.lr),
            ("batch_size", a.batch_size),
            ("lr_schedule", a.lr_schedule),
            ("loss_reduction", a.loss_reduction),
            ("seed", a.seed),
            ("grad_clip", a.grad_clip),
        )
        if v is not None
    }
    if a.kl_warmup:
        train_kw["kl_warmup"] = tuple(a.kl_warmup)
    preset = dataclasses.replace(
        base,
        name=f"{base.name}-trial",
        survey=base.survey.replace(**survey_kw),
        width=base.width if a.width is None else a.width,
        train=base.train.replace(**train_kw),
    )
    survey = presets.preset_survey(preset)
    test, _ = presets.heldout(survey, preset)
    print(
        f"{survey.wave[0]:.2f}-{survey.wave[-1]:.2f} A, {len(test)} held-out spectra; "
        f"train {preset.train.to_dict()}; width {preset.width}",
        flush=True,
    )
    rows = []
    for n in (a.velocity,) if a.whitened_only else (0.0,) if a.topocentric_only else (a.velocity, 0.0):
        t = time.time()
        model = presets.preset_model(preset, max_velocity=n, survey=survey, progress=False)
        secs = time.time() - t
        hist = load_history(model.run_dir)
        label = "topocentric" if n == 0 else f"N = {n:g}"
        (s,) = summarise(score_model(model, test, label=label))
        rows.append((label, s, hist[-1]["val_l1"], secs))
        print(
            f"{label:>12} Qt {s['Qt']:.2f} Qs {s['Qs']:.2f} leak {s['leakage']:.2f} stellar "
            f"{s['stellar_response']:.2f} static {s['static_pattern']:.2f} val L1 {hist[-1]['val_l1']:.4f} "
            f"({secs:.0f} s)",
            flush=True,
        )
    if len(rows) < 2:
        return 0
    w, t = rows[0][1], rows[1][1]
    print(
        f"claims: Qt ratio {w['Qt'] / t['Qt']:.2f} (<= 0.5), stellar {w['stellar_response']:.2f}/"
        f"{t['stellar_response']:.2f} (>= 0.6), "
        f"static ratio {w['static_pattern'] / max(t['static_pattern'], 1e-9):.2f} "
        f"(<= 0.5), Qs {w['Qs']:.2f} (<= 0.35)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
