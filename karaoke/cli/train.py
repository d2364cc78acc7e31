"""``karaoke train``: train a network on a survey file."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from karaoke.cli._common import print_json


def add_parser(cmd, presets, default_preset):
    """Add the ``train`` subcommand (``cmd(name, help, description)`` makes a subparser)."""
    t = cmd(
        "train",
        "train a network on a survey file",
        "Train (or resume) a network on a survey (.npz, topocentric). Writes RUN/checkpoint.pt after "
        "every epoch, RUN/model.pt when done, RUN/history.csv and RUN/run.json. Run the same command "
        "again to resume an interrupted training. Several processes train one network together under "
        "torchrun: `torchrun --nproc_per_node K -m karaoke train ...` (NCCL on GPUs, gloo on CPUs; "
        "--batch-size is the global batch, split over the K processes).",
    )
    t.add_argument(
        "survey",
        type=Path,
        help="survey file (.npz), or a store folder written by `karaoke prepare` (memory-mapped, never loaded whole)",
    )
    t.add_argument("--out", type=Path, required=True, help="run folder (resumed if it holds a checkpoint)")
    t.add_argument(
        "--velocity",
        type=float,
        default=30.0,
        help="whitening level N in km/s: virtual velocities v ~ U(-N, N); 0 trains the topocentric "
        "network (default 30)",
    )
    t.add_argument("--latent", type=int, default=128, help="latent dimensions of the bottleneck (default 128)")
    t.add_argument("--ae", action="store_true", help="deterministic autoencoder instead of the VAE (KL weight 0)")
    t.add_argument("--epochs", type=int, default=None, help="passes over the training spectra (default: the preset's)")
    t.add_argument(
        "--preset",
        "--scale",
        dest="preset",
        choices=presets,
        default=default_preset,
        help=f"preset giving network width and training recipe (default {default_preset}: the converged "
        "recipe; see karaoke.presets)",
    )
    t.add_argument(
        "--kl-weight",
        type=_kl_weight,
        default=None,
        help="weight of the KL term, or 'auto': train one network per weight of --kl-ladder into "
        "OUT/kl-<w>/ and keep the one whose held-out spectra separate stellar from telluric lines "
        "best, judged from the data alone (needs meta_berv spanning >= 1 km/s and meta_star_id or "
        "meta_object; OUT/choice.json has the ranking; karaoke.evaluation.bottleneck). Default: "
        "'auto' for the presets with a KL ladder (the converged recipes: no one weight serves every "
        "window, docs/results/bottleneck.csv) when the survey allows it, else the preset's weight "
        "(with a note saying why); pass a number to train one network",
    )
    t.add_argument(
        "--kl-ladder",
        type=float,
        nargs="+",
        default=None,
        metavar="W",
        help="KL weights tried by --kl-weight auto (default: the preset's, 0.04 0.3 1.0)",
    )
    t.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: the preset's)")
    t.add_argument("--batch-size", type=int, default=None, help="spectra per step (default: the preset's)")
    t.add_argument("--seed", type=int, default=None, help="training seed (default: the preset's, 0)")
    t.add_argument(
        "--grad-clip",
        type=float,
        default=None,
        metavar="NORM",
        help="rescale each step's gradient to at most this global L2 norm, a guard against a step "
        "that throws the network off (default: the preset's; 0: none). Its scale depends on the "
        "recipe: RUN/history.csv records each epoch's median and largest norm (grad_norm_p50, "
        "grad_norm_max) to choose it from",
    )
    t.add_argument(
        "--guard-rise",
        type=float,
        default=None,
        metavar="FRACTION",
        help="collapse guard: when the held-out L1 after an epoch is more than this fraction above "
        "its best, return to the best epoch and go on at half the learning rate (default: the "
        "preset's, 0.2 for the converged recipes; 0: none). RUN/history.csv records rolled_back "
        "and lr_scale per epoch",
    )
    t.add_argument(
        "--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda or cuda:N (default auto)"
    )
    t.add_argument("--compile", action="store_true", help="train through torch.compile (needs a C++ compiler)")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(func=run)
    return t


def _kl_weight(text):
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None


def run(a):
    from karaoke.nn.training import pick_device, train
    from karaoke.presets import KL_LADDER, get_preset
    from karaoke.spectra.survey import load_survey

    sc = get_preset(a.preset)
    pick_device(a.device)  # an unavailable device is an error before any work
    if a.survey.is_dir():  # a store from `karaoke prepare`: memory-mapped, read batch by batch
        from karaoke.archive.prepare import open_store

        survey = open_store(a.survey)
    else:
        survey = load_survey(a.survey)
    if survey.attrs.get("n_nonfinite_masked"):
        print(f"note: {a.survey}: {survey.attrs['n_nonfinite_masked']} NaN/inf pixels masked", file=sys.stderr)
    mc = sc.model_config(a.latent, not a.ae)
    if mc.n_pixels != survey.n_pixels:
        from karaoke.nn.model import ModelConfig

        mc = (
            ModelConfig.scaled(survey.n_pixels, a.latent, not a.ae, width=sc.width)
            if survey.n_pixels != 327680
            else ModelConfig.paper(a.latent, not a.ae)
        )
    overrides = {
        k: v
        for k, v in {
            "epochs": a.epochs,
            "lr": a.lr,
            "batch_size": a.batch_size,
            "seed": a.seed,
            "grad_clip": a.grad_clip,
            "guard_rise": a.guard_rise,
        }.items()
        if v is not None
    }
    if a.compile:
        overrides["compile"] = True
    tc = sc.train_config(a.velocity, not a.ae, **overrides)
    kl_weight, kl_note = _kl_choice(a, sc, survey)
    if a.kl_ladder is not None and kl_weight != "auto":
        raise ValueError("--kl-ladder needs --kl-weight auto" + (f" ({kl_note})" if kl_note else ""))
    processes = int(os.environ.get("WORLD_SIZE", 1))
    report = {
        "run": str(a.out),
        "model": str(Path(a.out) / "model.pt"),
        "processes": processes,
        "model_config": mc.to_dict(),
    }
    try:
        if kl_weight == "auto":
            from karaoke.evaluation.bottleneck import train_kl_ladder

            choice = train_kl_ladder(
                survey, mc, tc, a.out, a.kl_ladder or sc.kl_ladder or KL_LADDER, device=a.device, progress=not a.quiet
            )
            tc = tc.at_kl_weight(choice["chosen"])
            report["kl_choice"] = choice
        else:
            if kl_weight is not None and not a.ae:
                tc = tc.at_kl_weight(kl_weight)
            train(survey, mc, tc, a.out, device=a.device, progress=not a.quiet)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(
            f"training interrupted; the checkpoints under {a.out} hold the last finished "
            "epoch (the partial epoch is lost): run the same command to resume"
        ) from None
    if kl_note:
        report["kl_note"] = kl_note
    if os.environ.get("RANK", "0") == "0":  # under torchrun only rank 0 reports
        print_json({**report, "train_config": tc.to_dict()})
    return 0


def _kl_choice(a, sc, survey):
    """(KL weight: a number, ``"auto"`` or None for the preset's; a note when the default ladder
    was not used, else None). An explicit ``auto`` that cannot run is an error."""
    if a.kl_weight == "auto":
        if a.ae:
            raise ValueError("--kl-weight auto chooses the VAE's KL weight; the autoencoder (--ae) has none")
        if int(os.environ.get("WORLD_SIZE", 1)) > 1:
            raise ValueError("--kl-weight auto runs in one process (not under torchrun)")
        return "auto", None
    if a.kl_weight is not None or a.ae or not sc.kl_ladder:
        return a.kl_weight, None
    if int(os.environ.get("WORLD_SIZE", 1)) > 1:
        why = "the ladder runs in one process, not under torchrun"
    else:
        from karaoke.evaluation.bottleneck import star_ids

        try:
            star_ids(survey)
            return "auto", None
        except ValueError as exc:
            why = str(exc)
    note = (
        f"KL weight {sc.train.kl_weight:g} (preset {sc.name}'s), not chosen from the data: {why}; "
        "pass --kl-weight to choose it yourself"
    )
    print(f"note: {a.survey}: {note}", file=sys.stderr)
    return None, note
