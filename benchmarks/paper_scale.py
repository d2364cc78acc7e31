"""The paper's scale in one command: survey, both networks, scores and Figs. 5 and 7 at 327680 px.

One short prepared run for a GPU (GPU time is lent here in minutes):

1. the `paper` preset's synthetic survey (4000 spectra x 327680 px, HARPS grid and artifact
   mask) generated with torch on the device (``karaoke.synth.device``);
2. the paper's exact network (7,046,997 parameters) trained whitened (N = 30 km/s) and
   topocentric (N = 0) with ``karaoke.nn.training.train`` -- the paper's recipe (Adam 1e-4, KL
   weight 0.1 ramped over steps 5000-20000) or the converged one (``--recipe converged``) --
   for ``--epochs`` epochs each;
3. both scored on held-out stars (Qt, Qs, leakage, stellar response, static pattern:
   ``karaoke.evaluation.sweeps.score_model``) and the claims checked
   (``karaoke.evaluation.claims``);
4. Fig. 5 (reconstructions) and Fig. 7 (Qt/Qs whitened vs topocentric) written to ``figures/``,
   the table and the timings to ``docs/results/paper_scale.csv``.

    python benchmarks/paper_scale.py                  # on a GPU: the paper's scale
    python benchmarks/paper_scale.py --smoke          # the same path at a tiny size on a CPU (CI)

With the paper's recipe the KL weight is still 0 before step 5000: at 3600 training spectra and
batch 32 that is 44 epochs, so a short run trains a plain autoencoder; the table says how far it
got (steps, final KL weight).
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def device_name(dev) -> str:
    import platform

    import torch

    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="a tiny survey and network on the CPU: the same code path")
    p.add_argument("--epochs", type=int, default=None, help="epochs per network (default 40; smoke 1)")
    p.add_argument("--recipe", choices=["paper", "converged"], default="paper", help="training recipe (default paper)")
    p.add_argument("--device", default="auto", help="auto, cuda, cpu (default auto)")
    p.add_argument("--work", type=Path, default=None, help="run folders (default: a temporary folder)")
    p.add_argument("--out", type=Path, default=None, help="CSV (default docs/results/paper_scale.csv; none in smoke)")
    a = p.parse_args(argv)

    import numpy as np

    from karaoke import plotting, presets
    from karaoke._atomic import write_csv
    from karaoke.evaluation.claims import check_claims
    from karaoke.evaluation.sweeps import score_model, summarise
    from karaoke.nn.checkpoint import load_model
    from karaoke.nn.model import ModelConfig
    from karaoke.nn.training import load_history, pick_device, train
    from karaoke.synth.device import make_survey_torch

    dev = pick_device(a.device)
    preset = presets.get_preset("paper")
    if a.smoke:
        preset = replace(
            preset,
            name="paper-smoke",
            width=0.25,
            eval_spectra=8,
            survey=preset.survey.replace(n_spectra=48, n_stars=8, n_pixels=2048, grid_start=6276.0),
        )
    epochs = a.epochs or (1 if a.smoke else 40)
    train_cfg = presets.CONVERGED if a.recipe == "converged" else preset.train
    train_cfg = train_cfg.replace(epochs=epochs)
    work = a.work or Path(tempfile.mkdtemp(prefix="karaoke-paper-"))
    timings, rows, date = {}, [], datetime.date.today().isoformat()
    name = device_name(dev)
    print(
        f"{preset.name}: {preset.survey.n_spectra} spectra x {preset.survey.n_pixels} px on {name}; recipe "
        f"{a.recipe}, {epochs} epochs per network",
        flush=True,
    )

    t0 = time.perf_counter()
    survey = make_survey_torch(preset.survey, device=dev, progress=not a.smoke)
    timings["survey_s"] = time.perf_counter() - t0
    print(f"survey generated in {timings['survey_s']:.1f} s", flush=True)
    test, _ = presets.heldout(survey, preset)
    mc = (
        ModelConfig.paper()
        if preset.survey.n_pixels == 327680 and not a.smoke
        else ModelConfig.scaled(preset.survey.n_pixels, 128, width=preset.width)
    )
    summaries, models, per_spectrum = {}, {}, []
    for n in (30.0, 0.0):
        t0 = time.perf_counter()
        train(survey, mc, train_cfg.replace(max_velocity=n), work / f"N{n:g}", device=dev, progress=not a.smoke)
        timings[f"train_N{n:g}_s"] = time.perf_counter() - t0
        model = load_model(work / f"N{n:g}", map_location=dev)  # self-describing, as a user would load it
        label = "VAE topocentric" if n == 0 else f"VAE N = {n:g} km/s"
        scored = score_model(model, test, label="topocentric" if n == 0 else "N = 30")  # one row per spectrum
        per_spectrum += scored
        (s,) = summarise(scored)
        hist = load_history(work / f"N{n:g}")
        steps, beta = int(hist[-1]["step"]), float(hist[-1]["beta"])
        summaries[n], models[n] = s, model
        rows.append(
            {
                "network": label,
                **{k: f"{s[k]:.2f}" for k in ("Qt", "Qs", "leakage", "stellar_response", "static_pattern")},
                "epochs": epochs,
                "steps": steps,
                "kl_weight_reached": f"{beta:.3f}",
                "recipe": a.recipe,
                "train_s": round(timings[f"train_N{n:g}_s"]),
                "survey_s": round(timings["survey_s"]),
                "n_pixels": preset.survey.n_pixels,
                "device": name,
                "date": date,
            }
        )
        r = rows[-1]
        print(
            f"{label:>16}: Qt {r['Qt']} Qs {r['Qs']} leak {r['leakage']} stellar {r['stellar_response']} static "
            f"{r['static_pattern']} ({steps} steps, KL weight {beta:.3f}, {r['train_s']} s)",
            flush=True,
        )
    held = check_claims(summaries[30.0], summaries[0.0])
    print("claims:", ", ".join(f"{k} {'holds' if v else 'fails'}" for k, v in held.items()))

    plotting.use_style()
    sel = np.arange(min(3, len(test)))
    zoom = plotting.deepest_telluric_window(test.wave, test.transmission[sel[0]])
    fig = plotting.plot_reconstructions(
        test.wave,
        test.flux[sel],
        models[30.0].reconstruct(test.flux[sel]),
        truth=test.stellar[sel] / np.median(test.stellar[sel], axis=1, keepdims=True),
        zooms=[zoom],
        n=len(sel),
    )
    figs = [plotting.savefig(fig, f"{preset.name}_fig5")]
    fig = plotting.plot_metric_distributions(
        per_spectrum, ["topocentric", "N = 30"], title=f"{preset.name}", primary="N = 30"
    )
    figs.append(plotting.savefig(fig, f"{preset.name}_fig7"))
    print("figures:", ", ".join(str(f) for f in figs))
    if not a.smoke or a.out:
        out = a.out or ROOT / "docs" / "results" / "paper_scale.csv"
        write_csv(out, rows)
        print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
