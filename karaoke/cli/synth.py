"""``karaoke synth``: write a synthetic survey file."""

from __future__ import annotations

from pathlib import Path

from karaoke.cli._common import print_json


def add_parser(cmd, presets, default_preset):
    """Add the ``synth`` subcommand (``cmd(name, help, description)`` makes a subparser)."""
    s = cmd(
        "synth",
        "write a synthetic survey file (.npz) with its exact truth",
        "Generate the embedded synthetic survey of a preset (stars x tellurics, topocentric, air "
        "wavelengths) and write it as one .npz file (format: karaoke/survey.py).",
    )
    s.add_argument("out", type=Path, help="survey file to write (.npz is appended if missing)")
    s.add_argument("--n-spectra", type=int, default=3000, help="number of spectra (default 3000)")
    s.add_argument(
        "--n-stars", type=int, default=None, help="number of stars (default: the preset's spectra-per-star ratio)"
    )
    s.add_argument("--seed", type=int, default=0, help="random seed of the survey (default 0)")
    s.add_argument(
        "--preset",
        "--scale",
        dest="preset",
        choices=presets,
        default=default_preset,
        help=f"preset giving grid and survey (default {default_preset}; see karaoke.presets)",
    )
    s.add_argument("--n-pixels", type=int, default=None, help="pixels of the grid (default: the preset's)")
    s.add_argument(
        "--grid-start", type=float, default=None, help="first pixel, air Angstrom, topocentric (default: the preset's)"
    )
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=run)
    return s


def run(a):
    from karaoke.presets import get_preset
    from karaoke.spectra.survey import save_survey
    from karaoke.synth.generator import make_survey

    cfg = get_preset(a.preset).survey
    kw = {"n_spectra": a.n_spectra, "seed": a.seed}
    kw["n_stars"] = (
        a.n_stars if a.n_stars else max(1, min(a.n_spectra, round(a.n_spectra * cfg.n_stars / cfg.n_spectra)))
    )
    if a.n_pixels:
        kw["n_pixels"] = a.n_pixels
    if a.grid_start:
        kw["grid_start"] = a.grid_start
    cfg = cfg.replace(**kw)
    from karaoke._atomic import check_output_dir

    check_output_dir(a.out.parent if a.out.parent != Path("") else Path("."), "folder of the survey file")
    if a.out.is_dir():
        raise ValueError(f"{a.out}: is a folder; give the survey file's name (e.g. {a.out / 'survey.npz'})")
    survey = make_survey(cfg, progress=not a.quiet)
    path = save_survey(survey, a.out)
    print_json(
        {
            "survey": str(path),
            "n_spectra": len(survey),
            "n_pixels": survey.n_pixels,
            "grid": survey.grid.to_dict(),
            "config_hash": cfg.hash(),
        }
    )
    return 0
