"""``karaoke evaluate``: partly trained runs, mismatched surveys, undefined metrics, no truth."""

import json

import numpy as np
import pytest
import torch
from astropy.io import fits

from karaoke.cli import main
from tests.helpers import last_json, shared


def test_a_partly_trained_run_is_refused_unless_allowed(tiny_run, tmp_path, capsys):
    import shutil

    partial = tmp_path / "partial"
    partial.mkdir()
    # a run folder holding only the checkpoint of an unfinished training: epoch 0 of 1, mid-epoch
    ck = torch.load(tiny_run / "run" / "checkpoint.pt", weights_only=False)
    ck.update(epoch=0, epoch_step=1)
    torch.save(ck, partial / "checkpoint.pt")
    good = shared("harps", "HARPS.2010-09-18T23:42:36.178_s1d_A.fits")
    for argv in (
        ["clean", str(partial), str(good), "--out", str(tmp_path / "c"), "--quiet"],
        ["evaluate", str(partial), str(tiny_run / "s.npz")],
    ):
        assert main(argv) == 1
        assert "--allow-partial" in capsys.readouterr().err
        assert main(argv + ["--allow-partial"]) == 0
        assert "partly trained" in capsys.readouterr().err
    with fits.open(tmp_path / "c" / "HARPS.2010-09-18T23:42:36.178_s1d_A_karaoke.fits") as h:
        assert h[0].header["PARTIAL"] is True
    shutil.rmtree(partial)


@pytest.mark.parametrize(
    "change,match", [("shift", "trained on"), ("barycentric", "barycentric frame"), ("vacuum", "vacuum")]
)
def test_evaluate_refuses_a_survey_on_another_grid_frame_or_medium(tiny_run, tmp_path, capsys, change, match):
    from karaoke.spectra.survey import load_survey, save_survey

    s = load_survey(tiny_run / "s.npz")
    if change == "shift":
        s = type(s)(wave=s.wave + 500.0, flux=s.flux, transmission=s.transmission, stellar=s.stellar, meta=s.meta)
    elif change == "barycentric":
        s.frame = "barycentric"
    else:
        s.medium = "vacuum"
    save_survey(s, tmp_path / "other.npz")
    assert main(["evaluate", str(tiny_run / "run"), str(tmp_path / "other.npz")]) == 1
    assert match in capsys.readouterr().err


def test_evaluate_prints_valid_json_when_a_metric_is_undefined(tiny_run, tmp_path, capsys):
    from karaoke.spectra.survey import load_survey, save_survey

    s = load_survey(tiny_run / "s.npz")
    s.transmission = np.ones_like(s.transmission)  # no telluric pixels: Qt is undefined
    save_survey(s, tmp_path / "notell.npz")
    assert main(["evaluate", str(tiny_run / "run"), str(tmp_path / "notell.npz")]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "NaN" not in line
    assert json.loads(line)["Qt"] is None


def test_evaluate_without_truth_gives_the_estimated_responses(tiny_run, tmp_path, capsys):
    with np.load(tiny_run / "s.npz") as z:
        d = {k: z[k] for k in z.files if k not in ("transmission", "stellar")}
    np.savez(tmp_path / "archive.npz", **d)
    assert main(["evaluate", str(tiny_run / "run"), str(tmp_path / "archive.npz")]) == 0
    ev = last_json(capsys)
    assert "Qt" not in ev and "leakage" not in ev
    assert 0 <= ev["leakage_est"] < 2 and 0 <= ev["stellar_response_est"] < 2
    d.pop("meta_berv")
    np.savez(tmp_path / "bare.npz", **d)
    rc = main(["evaluate", str(tiny_run / "run"), str(tmp_path / "bare.npz")])
    err = capsys.readouterr().err
    assert rc == 1 and "transmission" in err and "meta_berv" in err and "Traceback" not in err
