"""Data-parallel training with torchrun (gloo, 2 processes on the CPU): the run completes, its
trajectory matches one process with the same global batch, and it resumes with another K."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from karaoke.nn.checkpoint import load_model
from karaoke.nn.model import ModelConfig
from karaoke.nn.training import TrainConfig, load_history, train
from karaoke.spectra.survey import save_survey

WORKER = Path(__file__).with_name("ddp_worker.py")
#: Measured on a 2-core AMD EPYC (torch 2.13 CPU), 12 steps: the AE's per-epoch losses of 2 gloo
#: processes and of 1 process agree to 5e-8 relative and its weights to 1.2e-7 (gradients summed in
#: another order); the tolerance leaves room for other CPUs' summation orders.
AE_RTOL = 1e-3
#: The VAE's sampling noise is per rank, so its trajectory agrees only statistically (measured:
#: losses within 2.6e-4 relative, weights within 0.013 after 12 steps).
VAE_RTOL = 0.05


def _torchrun(nproc, survey, run, mc, tc, max_steps=0):
    cfg = json.dumps({"model": mc.to_dict(), "train": tc.to_dict()})
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        str(WORKER),
        str(survey),
        str(run),
        cfg,
        str(max_steps),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]


@pytest.fixture(scope="module")
def setup(tmp_path_factory, request):
    from karaoke.synth.generator import SurveyConfig, make_survey

    tmp = tmp_path_factory.mktemp("ddp")
    survey = make_survey(SurveyConfig(n_spectra=48, n_stars=6, seed=2, grid_start=6276.5, n_pixels=512), progress=False)
    path = save_survey(survey, tmp / "survey.npz")
    return tmp, survey, path


def _configs(variational):
    mc = ModelConfig.scaled(512, latent_dim=8, variational=variational, width=0.25)
    tc = TrainConfig(
        epochs=2,
        batch_size=8,
        lr=1e-3,
        kl_weight=0.01 if variational else 0.0,
        kl_warmup=(0, 5),
        max_velocity=30.0,
        seed=3,
        max_val_spectra=8,
    )
    return mc, tc


def test_two_gloo_processes_train_the_same_ae_as_one(setup):
    tmp, survey, path = setup
    mc, tc = _configs(False)
    one = train(survey, mc, tc, tmp / "ae1", device="cpu", progress=False)
    _torchrun(2, path, tmp / "ae2", mc, tc)
    two = load_model(tmp / "ae2")
    h1, h2 = load_history(tmp / "ae1"), load_history(tmp / "ae2")
    assert [h["step"] for h in h1] == [h["step"] for h in h2]
    for a, b in zip(h1, h2):
        assert b["l1"] == pytest.approx(a["l1"], rel=AE_RTOL) and b["val_l1"] == pytest.approx(a["val_l1"], rel=AE_RTOL)
    for (k, x), (_, y) in zip(one.state_dict().items(), two.state_dict().items()):
        torch.testing.assert_close(x, y, rtol=AE_RTOL, atol=AE_RTOL, msg=k)


def test_a_two_process_run_resumes_in_one_process(setup):
    """Interrupted mid-epoch under torchrun (K = 2), finished by a plain call (K = 1): the same
    network as an uninterrupted 1-process run (AE, so no sampling noise)."""
    tmp, survey, path = setup
    mc, tc = _configs(False)
    _torchrun(2, path, tmp / "cut", mc, tc, max_steps=3)
    assert (tmp / "cut" / "checkpoint.pt").exists() and not (tmp / "cut" / "model.pt").exists()
    resumed = train(survey, mc, tc, tmp / "cut", device="cpu", progress=False)
    one = (
        load_model(tmp / "ae1")
        if (tmp / "ae1" / "model.pt").exists()
        else train(survey, mc, tc, tmp / "ae1", device="cpu", progress=False)
    )
    for (k, x), (_, y) in zip(one.state_dict().items(), resumed.state_dict().items()):
        torch.testing.assert_close(x, y, rtol=AE_RTOL, atol=AE_RTOL, msg=k)


def test_two_gloo_processes_train_a_vae_like_one(setup):
    tmp, survey, path = setup
    mc, tc = _configs(True)
    train(survey, mc, tc, tmp / "vae1", device="cpu", progress=False)
    _torchrun(2, path, tmp / "vae2", mc, tc)
    h1, h2 = load_history(tmp / "vae1"), load_history(tmp / "vae2")
    assert np.allclose([h["l1"] for h in h2], [h["l1"] for h in h1], rtol=VAE_RTOL)
    assert (tmp / "vae2" / "model.pt").exists() and json.loads((tmp / "vae2" / "run.json").read_text())["seed"] == 3


def test_an_uneven_split_is_refused(setup, monkeypatch):
    tmp, survey, _ = setup
    mc, tc = _configs(False)
    from karaoke.nn import distributed

    monkeypatch.setattr(distributed, "setup", lambda dev: (distributed.Context(rank=0, world=3), dev))
    with pytest.raises(ValueError, match="does not split evenly over 3"):
        train(survey, mc, tc, tmp / "uneven", device="cpu", progress=False)


def test_torchrun_runs_the_cli(setup):
    """The documented command: ``torchrun --nproc_per_node 2 -m karaoke train SURVEY --out RUN``;
    only rank 0 reports."""
    tmp, _, path = setup
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "karaoke",
        "train",
        str(path),
        "--out",
        str(tmp / "cli"),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--latent",
        "4",
        "--device",
        "cpu",
        "--quiet",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    reports = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert len(reports) == 1 and reports[0]["processes"] == 2
    assert (tmp / "cli" / "model.pt").exists() and len(load_history(tmp / "cli")) == 1
