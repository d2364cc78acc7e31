"""``karaoke clean``: remove tellurics from FITS spectra."""

from __future__ import annotations

import sys
from pathlib import Path

from karaoke.cli._common import UsageError, batch_status, print_json, warn_partial


def add_parser(cmd, presets, default_preset):
    """Add the ``clean`` subcommand (``cmd(name, help, description)`` makes a subparser)."""
    c = cmd(
        "clean",
        "remove tellurics from FITS spectra",
        "Apply a trained network to 1-D FITS spectra (HARPS/ESPRESSO, barycentric, air). Writes one "
        "OUT/<name>_karaoke.fits per input (inputs sharing a file name get their folder prefixed) with "
        "binary tables SPECTRUM (barycentric, as the input; specutils reads it as it is) and TOPOCENTRIC "
        "(tellurics at rest), one row per pixel, columns with units: WAVE (air Angstrom), FLUX and ERR "
        "(the input, in its flux unit), RECON (telluric-free reconstruction, mean of --samples posterior "
        "draws), TELLURIC (FLUX / RECON), TELLURIC_ERR, FLUX_CORR (FLUX / TELLURIC), ERR_CORR and QUAL "
        "(bit flags: 1 no data, 2 guard band, 4 TELLURIC out of range, 8 poor reconstruction); "
        "provenance (network and input paths with sha256, training config, BERV and its source) in the "
        "primary header; and OUT/clean_report.csv. Run the same command again to finish an interrupted "
        "batch: products already made from the same input by the same network and settings are kept.",
    )
    c.add_argument("model", type=Path, help="run folder, karaoke checkpoint or the authors' .pth.tar")
    c.add_argument("files", type=Path, nargs="+", help="FITS spectra")
    c.add_argument("--out", type=Path, required=True, help="folder for the products and clean_report.csv")
    c.add_argument(
        "--assume-berv",
        type=float,
        default=None,
        metavar="KMS",
        help="BERV in km/s for files whose header gives none (recorded as BERVSRC = 'user'; "
        "default: such files are rejected)",
    )
    c.add_argument(
        "--allow-partial", action="store_true", help="accept a run whose training has not finished (refused by default)"
    )
    c.add_argument(
        "--samples",
        type=int,
        default=16,
        metavar="K",
        help="posterior draws per spectrum behind TELLURIC_ERR and ERR_CORR (default 16; 1: no posterior "
        "spread, TELLURIC_ERR holds the flux error alone)",
    )
    c.add_argument(
        "--err-scale",
        type=float,
        default=None,
        help="calibration factor of TELLURIC_ERR and ERR_CORR (default: the one stored beside the network "
        "in uncertainty.json by benchmarks/uncertainty.py, else 1)",
    )
    c.add_argument("--ecsv", action="store_true", help="also write each SPECTRUM table as <name>_karaoke.ecsv")
    c.add_argument("--workers", type=int, default=2, help="processes reading the inputs in parallel (default 2)")
    c.add_argument("--batch-size", type=int, default=8, help="spectra reconstructed at once (default 8)")
    c.add_argument("--device", default="cpu", help="where the network runs: cpu, cuda, cuda:N or auto (default cpu)")
    c.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "torch", "onnx"],
        help="what runs the network: PyTorch, or ONNX Runtime on the CPU (the same function within "
        "1e-5, faster on CPUs: benchmarks/inference.py); auto: ONNX Runtime when the device is the "
        "CPU (default)",
    )
    c.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads of the network (default: PyTorch's, i.e. the machine's cores)",
    )
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=run)
    return c


def run(a):
    from karaoke.nn.checkpoint import load_model
    from karaoke.nn.training import pick_device
    from karaoke.products.clean import clean_files

    if a.samples < 1:
        raise UsageError(f"--samples must be >= 1, got {a.samples}")
    if a.threads is not None and a.threads < 1:
        raise UsageError(f"--threads must be >= 1, got {a.threads}")
    device = pick_device(a.device)
    if a.backend == "onnx" and device.type != "cpu":
        raise UsageError(f"--backend onnx runs on the CPU; drop --device {a.device} or use --backend torch")
    model = load_model(a.model, allow_partial=a.allow_partial).to(device)
    warn_partial(model)
    if a.threads is not None:
        import torch

        torch.set_num_threads(a.threads)
    if a.backend == "onnx" or (a.backend == "auto" and device.type == "cpu"):
        from karaoke.nn.export import OnnxKaraoke

        model = OnnxKaraoke(model, threads=a.threads)  # ONNX Runtime: its own memory arena
    elif device.type == "cpu":
        from karaoke._malloc import reuse_freed_memory

        reuse_freed_memory()  # PyTorch's batches of one size: reuse their memory (karaoke._malloc)
    results = clean_files(
        model,
        a.files,
        a.out,
        progress=not a.quiet,
        assume_berv=a.assume_berv,
        samples=a.samples,
        err_scale=a.err_scale,
        ecsv=a.ecsv,
        workers=a.workers,
        batch_size=a.batch_size,
    )
    n_bad = sum(r.status != "ok" for r in results)
    for r in results:
        if r.status != "ok":
            print(f"skipped {r.reason}", file=sys.stderr)
    print_json(
        {
            "cleaned": len(results) - n_bad,
            "failed": n_bad,
            "out": str(a.out),
            "report": str(Path(a.out) / "clean_report.csv"),
        }
    )
    return batch_status(n_bad, len(results))
