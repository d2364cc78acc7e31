"""What every subcommand shares: help, exit codes, error reporting, output folders, the umask."""

import pytest
import torch

from karaoke.cli import main
from tests.helpers import shared


def test_errors_are_reported_not_raised(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "norun"), str(tmp_path / "nosurvey.npz")]) == 1
    assert "error" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train"])


def test_every_option_of_every_subcommand_has_help_and_the_exit_codes_are_documented(capsys):
    import argparse

    from karaoke.cli import build_parser

    p = build_parser()
    subs = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    assert set(subs.choices) == {"synth", "train", "evaluate", "clean", "download", "prepare"}
    for name, sp in subs.choices.items():
        for a in sp._actions:
            if isinstance(a, argparse._HelpAction):
                continue
            assert a.help and len(a.help) > 8, f"{name} {a.dest}: no help text"
            if a.option_strings and a.default not in (None, False) and a.type in (int, float):
                assert "default" in a.help, f"{name} {a.option_strings[0]}: help does not give the default"
        assert "exit status" in sp.format_help() and "130" in sp.format_help()
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0 and "km/s" in capsys.readouterr().out


def test_python_dash_m_karaoke_runs_the_cli():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "karaoke", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "synth" in r.stdout and "exit status" in r.stdout


@pytest.mark.parametrize("kind", ["file", "under-file", "read-only"])
def test_an_unwritable_out_is_a_clear_error_for_every_command(tiny_run, tmp_path, capsys, monkeypatch, kind):
    import karaoke._atomic as atomic

    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    out = {"file": blocker, "under-file": blocker / "sub", "read-only": tmp_path / "ro"}[kind]
    if kind == "read-only":  # root ignores permission bits, so the write itself is made to fail
        real = atomic.tempfile.mkstemp

        def refuse(*a, **k):
            if str(k.get("dir", "")).startswith(str(out)):
                raise PermissionError(13, "Permission denied", str(out))
            return real(*a, **k)

        monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    good = shared("harps", "HARPS.2010-09-18T23:42:36.178_s1d_A.fits")
    commands = {
        "synth": ["synth", str(out / "s.npz"), "--n-spectra", "4", "--n-pixels", "1024", "--quiet"],
        "train": ["train", str(tiny_run / "s.npz"), "--out", str(out), "--latent", "8", "--epochs", "1", "--quiet"],
        "prepare": ["prepare", str(good), "--out", str(out), "--grid-start", "6260", "--n-pixels", "1024", "--quiet"],
        "clean": ["clean", str(tiny_run / "run"), str(good), "--out", str(out), "--quiet"],
    }
    for name, argv in commands.items():
        rc = main(argv)
        err = capsys.readouterr().err
        assert rc == 1, (name, err)
        assert err.startswith(f"karaoke {name}: error: ") and "Traceback" not in err, (name, err)
        assert str(blocker) in err or str(out) in err, (name, err)


def test_device_cuda_without_cuda_is_a_clear_error(tiny_run, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    rc = main(["train", str(tiny_run / "s.npz"), "--out", str(tmp_path / "r"), "--device", "cuda", "--quiet"])
    assert rc == 1 and "no CUDA GPU" in capsys.readouterr().err


def test_ctrl_c_in_train_and_prepare_exits_130_with_a_resume_hint(tiny_run, tmp_path, capsys, monkeypatch):
    import karaoke.archive.prepare
    import karaoke.nn.training

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    import karaoke.evaluation.bottleneck

    monkeypatch.setattr(karaoke.nn.training, "train", interrupt)
    monkeypatch.setattr(karaoke.evaluation.bottleneck, "train", interrupt)
    for kl in ("0.1", "auto"):  # one network, or the ladder (the default here)
        rc = main(["train", str(tiny_run / "s.npz"), "--out", str(tmp_path / f"r{kl}"), "--kl-weight", kl, "--quiet"])
        err = capsys.readouterr().err
        assert rc == 130 and "resume" in err and "Traceback" not in err
    monkeypatch.setattr(karaoke.archive.prepare, "prepare_collection", interrupt)
    good = shared("harps", "HARPS.2010-09-18T23:42:36.178_s1d_A.fits")
    rc = main(["prepare", str(good), "--out", str(tmp_path / "st"), "--grid-start", "6260", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 130 and "resume" in err


def test_written_files_follow_the_umask(tiny_run, tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        assert main(["synth", str(tmp_path / "u.npz"), "--n-spectra", "4", "--n-pixels", "1024", "--quiet"]) == 0
        assert stat.S_IMODE((tmp_path / "u.npz").stat().st_mode) == 0o644
        os.umask(0o077)
        assert main(["synth", str(tmp_path / "v.npz"), "--n-spectra", "4", "--n-pixels", "1024", "--quiet"]) == 0
        assert stat.S_IMODE((tmp_path / "v.npz").stat().st_mode) == 0o600
    finally:
        os.umask(old)
