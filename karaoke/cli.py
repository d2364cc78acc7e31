"""Command line: ``karaoke synth | train | evaluate | clean``.

    karaoke synth OUT --n-spectra N --seed S
    karaoke train SURVEY --out RUN --velocity 30 --latent 128 [--ae] --epochs E --scale ci
    karaoke evaluate RUN SURVEY          # prints one JSON object (median Qt, Qs, ...)
    karaoke clean MODEL FILES... --out DIR
    karaoke download harps --target HD128621 --out DIR   |   karaoke download model --out DIR
    karaoke download sdss --plate 2887 [--exposures E ...] --out DIR
    karaoke prepare FOLDER --out STORE [--grid-start 6260 --n-pixels 4096]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _synth(a):
    from .scales import get_scale
    from .survey import save_survey
    from .synth import make_survey

    cfg = get_scale(a.scale).survey
    kw = {"n_spectra": a.n_spectra, "seed": a.seed}
    kw["n_stars"] = a.n_stars if a.n_stars else max(1, min(a.n_spectra, round(a.n_spectra * cfg.n_stars / cfg.n_spectra)))
    if a.n_pixels:
        kw["n_pixels"] = a.n_pixels
    if a.grid_start:
        kw["grid_start"] = a.grid_start
    cfg = cfg.replace(**kw)
    survey = make_survey(cfg, progress=not a.quiet)
    path = save_survey(survey, a.out)
    print(json.dumps({"survey": str(path), "n_spectra": len(survey), "n_pixels": survey.n_pixels,
                      "grid": survey.grid.to_dict(), "config_hash": cfg.hash()}))
    return 0


def _train(a):
    from .scales import get_scale
    from .survey import load_survey
    from .train import train

    sc = get_scale(a.scale)
    survey = load_survey(a.survey)
    mc = sc.model_config(a.latent, not a.ae)
    if mc.n_pixels != survey.n_pixels:
        from .model import ModelConfig

        mc = ModelConfig.scaled(survey.n_pixels, a.latent, not a.ae, width=sc.width) \
            if survey.n_pixels != 327680 else ModelConfig.paper(a.latent, not a.ae)
    overrides = {k: v for k, v in {"epochs": a.epochs, "lr": a.lr, "batch_size": a.batch_size,
                                   "seed": a.seed}.items() if v is not None}
    tc = sc.train_config(a.velocity, not a.ae, **overrides)
    if a.kl_weight is not None and not a.ae:
        tc = tc.replace(kl_weight=a.kl_weight)
    train(survey, mc, tc, a.out, device=a.device, progress=not a.quiet)
    print(json.dumps({"run": str(a.out), "model": str(Path(a.out) / "model.pt"),
                      "model_config": mc.to_dict(), "train_config": tc.to_dict()}))
    return 0


def _evaluate(a):
    from .metrics import evaluate_reconstruction, line_responses
    from .model import load_model
    from .survey import load_survey

    model = load_model(a.run)
    survey = load_survey(a.survey)
    meta = model.checkpoint_meta
    if survey.n_pixels != model.config.n_pixels:
        raise ValueError(f"{a.survey}: {survey.n_pixels} pixels, the model expects {model.config.n_pixels}")
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
    print(json.dumps(out))
    return 0


def _clean(a):
    from .clean import clean_files
    from .model import load_model

    model = load_model(a.model)
    results = clean_files(model, a.files, a.out, progress=not a.quiet)
    n_bad = sum(r.status != "ok" for r in results)
    for r in results:
        if r.status != "ok":
            print(f"skipped {r.reason}", file=sys.stderr)
    print(json.dumps({"cleaned": len(results) - n_bad, "failed": n_bad, "out": str(a.out),
                      "report": str(Path(a.out) / "clean_report.csv")}))
    return 0 if n_bad == 0 else (3 if n_bad < len(results) else 1)


def _download(a):
    from .download import AUTHORS_MODEL_URL, download_harps, fetch_authors_model, query_harps

    if a.what == "model":
        path = fetch_authors_model(a.out, base_url=a.base_url or AUTHORS_MODEL_URL, progress=not a.quiet)
        print(json.dumps({"model": str(path)}))
        return 0
    if a.what == "sdss":
        return _download_sdss(a)
    ids = []
    if a.ids:
        ids = [x.strip() for x in Path(a.ids).read_text().split() if x.strip()]
    if a.target or a.start or a.end:
        ids += query_harps(a.target, a.start, a.end, max_rows=a.max_rows)
    if not ids:
        raise ValueError("nothing to download: give --target/--start/--end or --ids FILE")
    rows = download_harps(ids, a.out, workers=a.workers, progress=not a.quiet)
    return _download_summary(len(rows), len([r for r in rows if r.status == "failed"]), a.out)


def _download_sdss(a):
    from .download import SDSS_SAS_URL, download_sdss, list_sdss_exposures

    base = a.base_url or SDSS_SAS_URL
    if not a.plate:
        raise ValueError("nothing to download: give --plate P [P ...] (and optionally --exposures)")
    pairs = []
    for plate in a.plate:
        exps = a.exposures or list_sdss_exposures(plate, a.camera, a.run2d, base)
        pairs += [(plate, e) for e in exps]
    rows = download_sdss(pairs, a.out, camera=a.camera, run2d=a.run2d, base_url=base, workers=a.workers,
                         progress=not a.quiet)
    return _download_summary(len(pairs), len({r.dataset for r in rows if r.status == "failed"}), a.out)


def _download_summary(requested: int, failed: int, out) -> int:
    """Print a download's JSON summary; exit status 3 when anything failed."""
    print(json.dumps({"requested": requested, "ok": requested - failed, "failed": failed,
                      "manifest": str(Path(out) / "manifest.csv")}))
    return 0 if not failed else 3


def _prepare(a):
    from .grid import Grid, harps_grid
    from .io import find_spectra
    from .prepare import prepare_collection

    files, others = [], []
    for f in a.files:  # a folder contributes its 1-D spectra; a named file is always tried
        spectra, other = find_spectra(f) if f.is_dir() else ([f], [])
        files += spectra
        others += other
    for f, why in others:
        print(f"set aside {f}: {why}", file=sys.stderr)
    grid = harps_grid() if a.grid_start is None else Grid(a.grid_start, 0.01, a.n_pixels)
    report = prepare_collection(files, a.out, grid=grid, workers=a.workers, progress=not a.quiet)
    print(json.dumps({**report, "set_aside": len(others)}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="karaoke", description="Stellar Karaoke: telluric removal by velocity "
                                "whitening and a convolutional VAE (Sedaghat et al. 2023).")
    p.add_argument("--version", action="version", version=f"karaoke {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    scales = ["ci", "cpu", "paper"]

    s = sub.add_parser("synth", help="write a synthetic survey file (.npz)")
    s.add_argument("out", type=Path)
    s.add_argument("--n-spectra", type=int, default=3000)
    s.add_argument("--n-stars", type=int, default=None)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--scale", choices=scales, default="ci", help="grid and survey preset")
    s.add_argument("--n-pixels", type=int, default=None)
    s.add_argument("--grid-start", type=float, default=None, help="first pixel (air A)")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=_synth)

    t = sub.add_parser("train", help="train a network on a survey file")
    t.add_argument("survey", type=Path)
    t.add_argument("--out", type=Path, required=True, help="run folder (resumed if it holds a checkpoint)")
    t.add_argument("--velocity", type=float, default=30.0, help="whitening N in km/s (0: topocentric)")
    t.add_argument("--latent", type=int, default=128)
    t.add_argument("--ae", action="store_true", help="deterministic autoencoder instead of the VAE")
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--scale", choices=scales, default="ci", help="network width and training preset")
    t.add_argument("--kl-weight", type=float, default=None)
    t.add_argument("--lr", type=float, default=None)
    t.add_argument("--batch-size", type=int, default=None)
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--device", default="auto")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=_train)

    e = sub.add_parser("evaluate", help="Qt/Qs of a trained network on a survey file (JSON)")
    e.add_argument("run", type=Path, help="run folder or checkpoint")
    e.add_argument("survey", type=Path)
    e.add_argument("--max-spectra", type=int, default=None)
    e.add_argument("--pseudo-truth", action="store_true",
                   help="use the paper's pseudo-truth from the transmission instead of the exact truth")
    e.set_defaults(func=_evaluate)

    d = sub.add_parser("download", help="HARPS ADP spectra (ESO), SDSS spFrame/spFluxcalib pairs (SAS), "
                                        "or the authors' model")
    d.add_argument("what", choices=["harps", "sdss", "model"])
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--target", default=None)
    d.add_argument("--start", default=None, help="first observing date (YYYY-MM-DD)")
    d.add_argument("--end", default=None, help="last observing date (YYYY-MM-DD)")
    d.add_argument("--ids", default=None, help="text file with one ADP id per line")
    d.add_argument("--max-rows", type=int, default=None)
    d.add_argument("--workers", type=int, default=4)
    d.add_argument("--plate", type=int, nargs="+", default=None, help="SDSS plate number(s) (sdss)")
    d.add_argument("--exposures", type=int, nargs="+", default=None,
                   help="SDSS exposure numbers (sdss; default: every exposure of each plate; with several "
                        "plates the same numbers are tried on each)")
    d.add_argument("--camera", default="r1", help="SDSS camera (sdss; the paper: r1)")
    d.add_argument("--run2d", default="26", help="SDSS reduction (sdss; SEGUE plates: 26, 103, 104)")
    d.add_argument("--base-url", default=None,
                   help="archive root for model/sdss (default: the authors' site / the DR17 SAS)")
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=_download)

    pr = sub.add_parser("prepare", help="homogenise a folder of FITS spectra into a memory-mapped store")
    pr.add_argument("files", type=Path, nargs="+", help="FITS files or folders of them")
    pr.add_argument("--out", type=Path, required=True)
    pr.add_argument("--grid-start", type=float, default=None, help="default: the 327680-px HARPS grid")
    pr.add_argument("--n-pixels", type=int, default=4096)
    pr.add_argument("--workers", type=int, default=2)
    pr.add_argument("--quiet", action="store_true")
    pr.set_defaults(func=_prepare)

    c = sub.add_parser("clean", help="remove tellurics from FITS spectra")
    c.add_argument("model", type=Path, help="run folder, karaoke checkpoint or the authors' .pth.tar")
    c.add_argument("files", type=Path, nargs="+")
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(func=_clean)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"karaoke {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
