"""The bottleneck against the window: whitened networks of the converged recipe with several KL
weights in the O2 (``regime``) and H2O (``regime-h2o`` at width 0.5, ``presets.REGIME_H2O_HALF``)
windows, scored on held-out stars.

Each network is a variant of a preset's recipe with another KL weight (built with
``dataclasses.replace``, trained through the run cache, so networks already trained by
``tools/trial.py`` or ``benchmarks/science.py`` are reused and only scored). Prints one table and
writes ``docs/results/kl_windows.csv`` (the README's table is generated from it):

    python benchmarks/kl_windows.py                     # ~6 min per network not yet in the cache
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Every network of the table is trained this long (the weights were compared at 60 epochs,
#: whatever a preset's own length).
EPOCHS = 60
#: (preset, KL weight, velocity N) of every network in the table.
POINTS = [
    ("regime", 0.03, 30.0),
    ("regime", 0.5, 30.0),
    ("regime", 1.0, 30.0),
    ("regime", 0.03, 0.0),
    ("regime-h2o-half", 0.03, 30.0),
    ("regime-h2o-half", 0.3, 30.0),
    ("regime-h2o-half", 0.5, 30.0),
    ("regime-h2o-half", 1.0, 30.0),
    ("regime-h2o-half", 0.03, 0.0),
    ("regime-h2o-half", 1.0, 0.0),
]


def main(argv=None) -> int:
    from karaoke import presets
    from karaoke._atomic import write_csv
    from karaoke.evaluation.sweeps import score_model, summarise
    from karaoke.nn.training import load_history

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "kl_windows.csv")
    a = p.parse_args(argv)
    rows, tests = [], {}
    print(
        f"{'window':>10} {'KL':>5} {'network':>12} {'Qt':>5} {'Qs':>5} {'leak':>5} {'stellar':>7} {'static':>6} "
        f"{'train s':>7}"
    )
    for name, kl, n in POINTS:
        base = presets.get_preset(name)
        preset = dataclasses.replace(
            base, name=f"{name}-kl{kl:g}", train=base.train.at_kl_weight(kl).replace(epochs=EPOCHS)
        )
        survey = presets.preset_survey(preset)
        if name not in tests:
            tests[name] = presets.heldout(survey, preset)[0]
        model = presets.preset_model(preset, max_velocity=n, survey=survey, progress=True)
        label = "topocentric" if n == 0 else f"N = {n:g} km/s"
        (s,) = summarise(score_model(model, tests[name], label=label))
        secs = sum(h["seconds"] for h in load_history(model.run_dir))
        window = f"{'O2' if name == 'regime' else 'H2O'} {survey.wave[0]:.0f}"
        row = {
            "window": window,
            "kl_weight": kl,
            "network": label,
            "Qt": f"{s['Qt']:.2f}",
            "Qs": f"{s['Qs']:.2f}",
            "leakage": f"{s['leakage']:.2f}",
            "stellar_response": f"{s['stellar_response']:.2f}",
            "static_pattern": f"{s['static_pattern']:.2f}",
            "preset_default": kl == base.train.kl_weight,
            "train_seconds": round(secs),
        }
        rows.append(row)
        print(
            f"{window:>10} {kl:5g} {label:>12} {row['Qt']:>5} {row['Qs']:>5} {row['leakage']:>5} "
            f"{row['stellar_response']:>7} {row['static_pattern']:>6} {row['train_seconds']:7d}",
            flush=True,
        )
    write_csv(a.out, rows)
    print(f"written {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
