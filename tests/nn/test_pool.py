"""Networks trained side by side (karaoke.nn.pool): the plan, the same runs as train_cached, errors."""

import os
import platform

import numpy as np
import pytest
import torch

from karaoke.nn.model import ModelConfig
from karaoke.nn.pool import WORKERS_ENV, plan, train_many
from karaoke.nn.training import TrainConfig, run_dir_for, train_cached


def _jobs(survey):
    mc = ModelConfig.scaled(survey.n_pixels, latent_dim=8, width=0.25)
    tc = TrainConfig(epochs=1, batch_size=16, lr=1e-3, kl_weight=0.01, kl_warmup=(0, 5), seed=5)
    return [(survey, mc, tc), (survey, mc, tc.replace(max_velocity=0.0)), (survey, mc, tc.replace(seed=6))]


def test_plan_shares_the_thread_budget(monkeypatch):
    monkeypatch.delenv(WORKERS_ENV, raising=False)
    assert plan(2, "cpu", budget=2) == (2, 1)
    assert plan(9, "cpu", budget=2) == (2, 1)  # never more processes than threads
    assert plan(1, "cpu", budget=16) == (1, 16)  # one network keeps every thread
    assert plan(4, "cpu", budget=16) == (4, 4)
    assert plan(3, "cpu", budget=16) == (3, 5)
    assert plan(0, "cpu", budget=2) == (1, 2)
    assert plan(4, "cuda", budget=16) == (1, 16)  # one process on a GPU unless asked
    assert plan(4, "cuda:0", workers=2, budget=16) == (2, 8)
    monkeypatch.setenv(WORKERS_ENV, "1")
    assert plan(4, "cpu", budget=2) == (1, 2)


@pytest.mark.parametrize("bad", ["0", "two", "-1"])
def test_a_bad_worker_count_is_refused_by_name(monkeypatch, bad):
    monkeypatch.setenv(WORKERS_ENV, bad)
    with pytest.raises(ValueError, match=WORKERS_ENV):
        plan(2, "cpu", budget=2)
    monkeypatch.delenv(WORKERS_ENV)
    with pytest.raises(ValueError, match="workers"):
        plan(2, "cpu", workers=0, budget=2)


def test_pool_trains_the_networks_train_cached_would(small_survey, tmp_path, monkeypatch):
    """Two processes of one thread give the runs (folders, configs, weights) that train_cached
    gives one after the other on one thread, and a second call trains nothing."""
    monkeypatch.delenv(WORKERS_ENV, raising=False)
    jobs = _jobs(small_survey)[:2]
    models = train_many(jobs + [jobs[0]], root=tmp_path / "pool", device="cpu", workers=2)
    assert [m.run_dir for m in models] == [
        run_dir_for(mc, tc, small_survey.data_hash(), tmp_path / "pool") for _, mc, tc in jobs + [jobs[0]]
    ]
    assert len(list((tmp_path / "pool").iterdir())) == 2
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ref = [train_cached(*job, root=tmp_path / "ref", device="cpu", progress=False) for job in jobs]
    finally:
        torch.set_num_threads(threads)
    for m, r in zip(models, ref):
        assert m.trained and not m.training
        assert m.meta.saved["train_config"] == r.meta.saved["train_config"]
        for (name, a), b in zip(m.state_dict().items(), r.state_dict().values()):
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5, err_msg=name)
    stamps = [(m.run_dir / "model.pt").stat().st_mtime_ns for m in models[:2]]
    again = train_many(jobs, root=tmp_path / "pool", device="cpu", workers=2)
    assert [(m.run_dir / "model.pt").stat().st_mtime_ns for m in again] == stamps


def test_a_failing_network_is_reported_after_the_others_finish(small_survey, tmp_path, monkeypatch):
    monkeypatch.delenv(WORKERS_ENV, raising=False)
    good = _jobs(small_survey)[0]
    bad = (small_survey, ModelConfig.scaled(2 * small_survey.n_pixels, latent_dim=8, width=0.25), good[2])  # wrong grid
    with pytest.raises(ValueError, match="pixels"):
        train_many([bad, good], root=tmp_path, device="cpu", workers=2)
    assert (run_dir_for(*good[1:], small_survey.data_hash(), tmp_path) / "model.pt").exists()


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="ATen's AVX2 kernels are x86-64 only")
def test_a_float_path_reaches_the_training_processes_and_has_its_own_cache(small_survey, tmp_path, monkeypatch):
    """float_path="avx2" trains in processes whose PyTorch runs AVX2 kernels (recorded in the
    run's provenance), into the path's own run cache, and leaves this process's environment as
    it was; another path is a clear error."""
    import json

    from karaoke.nn.pool import FLOAT_PATHS, float_path_root

    monkeypatch.delenv(WORKERS_ENV, raising=False)
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    monkeypatch.setenv("KARAOKE_DATA", str(tmp_path))
    job = _jobs(small_survey)[0]
    (model,) = train_many([job], device="cpu", float_path="avx2")
    assert model.run_dir.parent == float_path_root("avx2") == tmp_path / "cache" / "runs-avx2"
    run = json.loads((model.run_dir / "run.json").read_text())
    assert run["cpu_capability"] == "AVX2" and run["onednn_max_cpu_isa"] == FLOAT_PATHS["avx2"]["ONEDNN_MAX_CPU_ISA"]
    assert "ATEN_CPU_CAPABILITY" not in os.environ
    with pytest.raises(ValueError, match="unknown float path 'sse'"):
        train_many([job], device="cpu", float_path="sse")


def test_current_float_path_names_the_environment_a_process_runs_under():
    from karaoke.nn.pool import FLOAT_PATHS, current_float_path

    for name, env in FLOAT_PATHS.items():
        assert current_float_path({"PATH": "/bin", **env}) == name
    # an empty value is unset, and a combination not in FLOAT_PATHS is spelled out, not misnamed
    assert current_float_path({"ATEN_CPU_CAPABILITY": ""}) == "native"
    assert current_float_path({"ONEDNN_MAX_CPU_ISA": "AVX2"}) == "ONEDNN_MAX_CPU_ISA=AVX2"


def test_the_run_record_says_when_it_ran_on_another_float_path(monkeypatch):
    from karaoke.notebooks import machine

    for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA"):
        monkeypatch.delenv(k, raising=False)
    assert "float path" not in machine()
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert machine().endswith(", avx2 float path")
