"""What a loaded network says about the data it takes: its grid, frame and medium, the file it
was read from and the calibration of its uncertainties (``uncertainty.json`` beside it)."""

from __future__ import annotations

import json
from pathlib import Path

from karaoke.spectra.grid import Grid, harps_grid


def model_grid(model) -> Grid:
    """The wavelength grid a loaded model works on (from its checkpoint, or the HARPS grid for
    the authors' 327680-px network)."""
    meta = model.meta.saved
    if "grid" in meta:
        return Grid(**meta["grid"])
    if model.config.n_pixels == 327680:
        return harps_grid()
    raise ValueError("cannot tell the model's wavelength grid: its checkpoint has no 'grid' entry")


def check_survey_matches_model(survey, model, where="survey"):
    """Raise ValueError unless ``survey`` is on the model's grid, frame and medium.

    The model's grid, frame and medium come from its checkpoint (the authors' network: the
    327680-px HARPS grid, topocentric, air). A grid of the same length but other wavelengths
    (e.g. shifted by 500 A) is refused, as is a barycentric or vacuum survey.
    """
    grid = model_grid(model)
    meta = model.meta.saved
    if survey.n_pixels != grid.n:
        raise ValueError(f"{where}: {survey.n_pixels} pixels, the model expects {grid.n}")
    tol = 1e-3 * grid.step
    if abs(survey.wave[0] - grid.start) > tol or abs(survey.wave[-1] - grid.stop) > tol:
        raise ValueError(
            f"{where}: wavelengths {survey.wave[0]:.3f}-{survey.wave[-1]:.3f} A, but the model was "
            f"trained on {grid.start:.3f}-{grid.stop:.3f} A"
        )
    frame, medium = meta.get("frame", "topocentric"), meta.get("medium", "air")
    if survey.frame != frame:
        raise ValueError(
            f"{where}: spectra in the {survey.frame} frame, the model works on {frame} spectra "
            "(tellurics at rest); shift them first"
        )
    if survey.medium != medium:
        raise ValueError(f"{where}: {survey.medium} wavelengths, the model works in {medium}")


def model_file(model) -> Path | None:
    """The file a loaded model was read from (a run folder's ``model.pt``), or None."""
    path = model.meta.path
    if path is None:
        return None
    if path.is_dir():
        path = path / "model.pt"
    return path.resolve() if path.is_file() else None


def uncertainty_scale(model) -> tuple[float, str]:
    """The calibration factor of TELLURIC_ERR stored beside the network (``uncertainty.json``,
    written by ``benchmarks/uncertainty.py``), or 1 with the reason it is uncalibrated.

    Parameters
    ----------
    model : Karaoke
    """
    path = model_file(model)
    cal = path.parent / "uncertainty.json" if path is not None else None
    if cal is not None and cal.exists():
        try:
            d = json.loads(cal.read_text())
            return float(d["scale"]), f"{cal.name}: {d.get('calibrated_on', 'calibrated')}"
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{cal}: not a readable calibration ({exc})") from exc
    return 1.0, "none (posterior spread and flux error as they are)"
