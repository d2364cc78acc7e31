"""The paper's whitening claims on a preset trained to convergence: one table, one CSV.

Trains (or reuses from ``data/cache``) the whitened (N = 30 km/s) and topocentric networks of a
preset, scores both on its held-out stars with the exact truth (:func:`karaoke.evaluation.sweeps.score_model`)
and prints Qt, Qs, telluric leakage, stellar response and the static telluric pattern, with the
device, the date and the training time of each network (summed from its history, so also for
a network reused from the cache: then the device is where it is scored, which may differ). The table is written to
``docs/results/science_<preset>.csv``, from which ``tools/render_readme.py`` fills the README.

    python benchmarks/science.py                   # the default preset (see karaoke.presets.DEFAULT_PRESET)
    python benchmarks/science.py --preset regime --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def device_name() -> str:
    """This machine in a few words (CPU model or GPU name, threads): :func:`karaoke.notebooks.machine`."""
    from karaoke.notebooks import machine

    return machine()


def trained_on(model, scored_on: str) -> str:
    """Where a network was trained: its run's device and thread count (run.json, since session 8),
    else where it is scored."""
    import json

    run = json.loads((model.run_dir / "run.json").read_text())
    if "torch_threads" not in run:
        return scored_on
    if run.get("device", "cpu").startswith("cuda"):
        return scored_on
    return scored_on.rsplit(",", 1)[0] + f", {run['torch_threads']} thread" + ("s" if run["torch_threads"] > 1 else "")


def main(argv=None) -> int:
    from karaoke import presets
    from karaoke._atomic import write_csv
    from karaoke.evaluation.claims import CLAIMS, check_claims
    from karaoke.evaluation.sweeps import score_model, summarise
    from karaoke.nn.training import load_history

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default=presets.DEFAULT_TEST_PRESET, help="preset (default: %(default)s)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (default 0)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--out", type=Path, default=None, help="CSV to write (default docs/results/science_<preset>.csv)")
    a = p.parse_args(argv)
    survey = presets.preset_survey(a.preset)
    test, _ = presets.heldout(survey, a.preset)
    dev, date = device_name(), datetime.date.today().isoformat()
    rows = []
    print(f"preset {a.preset}: {len(test)} held-out spectra; {dev}; {date}", flush=True)
    print(f"{'network':>16} {'seed':>4} {'Qt':>5} {'Qs':>5} {'leak':>5} {'stellar':>7} {'static':>6} {'train s':>8}")
    held = {}
    points = [{"velocity": n, "seed": seed} for seed in a.seeds for n in (30.0, 0.0)]
    models = iter(presets.preset_models(a.preset, points, survey=survey, device=a.device))  # side by side
    for seed in a.seeds:
        pair = {}
        for n in (30.0, 0.0):
            model = next(models)
            secs = sum(h["seconds"] for h in load_history(model.run_dir))  # as trained (also when cached)
            label = "VAE topocentric" if n == 0 else f"VAE N = {n:g} km/s"
            (s,) = summarise(score_model(model, test, label=label))
            pair[n] = s
            rows.append(
                {
                    "network": label,
                    "seed": seed,
                    **{k: f"{s[k]:.2f}" for k in ("Qt", "Qs", "leakage", "stellar_response", "static_pattern")},
                    "preset": a.preset,
                    "device": trained_on(model, dev),
                    "date": date,
                    "train_seconds": round(secs),
                }
            )
            r = rows[-1]
            print(
                f"{label:>16} {seed:4d} {r['Qt']:>5} {r['Qs']:>5} {r['leakage']:>5} {r['stellar_response']:>7} "
                f"{r['static_pattern']:>6} {secs:8.0f}",
                flush=True,
            )
        held[seed] = check_claims(pair[30.0], pair[0.0])
    out = a.out or ROOT / "docs" / "results" / f"science_{a.preset}.csv"
    write_csv(out, rows)
    print(f"written {out}")
    for c in CLAIMS:  # thresholds from karaoke.evaluation.claims, the file the science tests read
        ok = [s for s in a.seeds if held[s][c.name]]
        print(f"claim {c.text}: holds for {len(ok)} of {len(a.seeds)} seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
