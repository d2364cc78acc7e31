import numpy as np
import pytest
import torch

from karaoke.nn.checkpoint import load_model
from karaoke.nn.model import ModelConfig
from karaoke.nn.training import TrainConfig, load_history, run_key, train, train_cached, vae_loss
from tests.helpers import load_script


def test_loss_matches_a_hand_computation():
    r = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    t = torch.tensor([[1.5, 2.0, 2.0, 0.0]])
    m = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    mu = torch.tensor([[0.5, -1.0]])
    lv = torch.tensor([[0.0, np.log(2.0)]], dtype=torch.float32)
    tot, l1, kl = vae_loss(r, t, m, mu, lv, beta=0.3)
    assert float(l1) == pytest.approx((0.5 + 0 + 1.0 + 0) / 4)
    kl_ref = -0.5 * np.mean([1 + 0 - 0.25 - 1, 1 + np.log(2) - 1 - 2])
    assert float(kl) == pytest.approx(kl_ref, rel=1e-6)
    assert float(tot) == pytest.approx(float(l1) + 0.3 * kl_ref, rel=1e-6)
    _, _, kl0 = vae_loss(r, t, m, mu, None, beta=0.3)
    assert float(kl0) == 0.0


def test_kl_warmup_schedule():
    c = TrainConfig(kl_weight=0.3, kl_warmup=(5000, 20000))
    assert c.beta(0) == 0 and c.beta(4999) == 0
    assert c.beta(12500) == pytest.approx(0.15) and c.beta(20000) == 0.3 and c.beta(10**6) == 0.3
    with pytest.raises(ValueError):
        TrainConfig(kl_warmup=(10, 5))
    with pytest.raises(ValueError):
        TrainConfig(max_velocity=-1)


def _small(small_survey):
    mc = ModelConfig.scaled(small_survey.n_pixels, latent_dim=8, width=0.25)
    tc = TrainConfig(epochs=2, batch_size=16, lr=1e-3, kl_weight=0.01, kl_warmup=(0, 5), max_velocity=30.0, seed=5)
    return mc, tc


def test_training_learns_and_writes_a_self_describing_run(small_survey, tmp_path):
    mc, tc = _small(small_survey)
    tc = tc.replace(epochs=4, lr=3e-3, max_velocity=0.0)  # whitened nets need far more than 24 steps to learn
    model = train(small_survey, mc, tc, tmp_path / "run", progress=False)
    hist = load_history(tmp_path / "run")
    assert len(hist) == 4 and hist[-1]["l1"] < 0.9 * hist[0]["l1"] and hist[-1]["val_l1"] < 0.9 * hist[0]["val_l1"]
    ck = torch.load(tmp_path / "run" / "model.pt", weights_only=False)
    assert ck["data_hash"] == small_survey.data_hash() and ck["seed"] == 5 and ck["step"] == hist[-1]["step"]
    assert ck["grid"]["n"] == small_survey.n_pixels and ck["frame"] == "topocentric"
    loaded = load_model(tmp_path / "run")
    x = np.asarray(small_survey.normalised()[0].flux[:2])
    np.testing.assert_allclose(loaded.reconstruct(x), model.reconstruct(x), atol=1e-6)


def test_compiled_training_matches_eager(small_survey, tmp_path):
    """``compile=True`` trains through torch.compile: the same losses as eager within float32
    reordering, a checkpoint with the plain module's parameter names, and a run of its own (the
    default leaves the keys of earlier runs unchanged)."""
    import shutil

    if not (shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")):
        pytest.skip("torch.compile (inductor) needs a C++ compiler on the CPU; none on PATH")
    mc, tc = _small(small_survey)
    mc, tc = mc.replace(variational=False), tc.replace(epochs=1, max_velocity=0.0)  # no sampling: same arithmetic
    assert "compile" not in tc.to_dict() and run_key(mc, tc.replace(compile=True), "h") != run_key(mc, tc, "h")
    train(small_survey, mc, tc, tmp_path / "eager", progress=False)
    train(small_survey, mc, tc.replace(compile=True), tmp_path / "compiled", progress=False)
    a, b = load_history(tmp_path / "eager")[-1], load_history(tmp_path / "compiled")[-1]
    assert b["l1"] == pytest.approx(a["l1"], rel=1e-3) and b["val_l1"] == pytest.approx(a["val_l1"], rel=1e-3)
    loaded = load_model(tmp_path / "compiled")
    assert not any(k.startswith("_orig_mod") for k in loaded.state_dict())


def test_gradient_norm_against_float64_and_clipping_to_the_threshold():
    from karaoke.nn.training import clip_gradients

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv1d(1, 4, 5), torch.nn.Flatten(), torch.nn.Linear(4 * 60, 3))
    net(torch.randn(8, 1, 64)).square().sum().backward()
    ref = np.sqrt(sum(np.sum(p.grad.double().numpy() ** 2) for p in net.parameters()))
    assert float(clip_gradients(net, 0.0)) == pytest.approx(ref, rel=1e-6)  # recorded, not clipped
    before = [p.grad.clone() for p in net.parameters()]
    assert float(clip_gradients(net, 1e9)) == pytest.approx(ref, rel=1e-6)  # above the norm: untouched
    for a, p in zip(before, net.parameters()):
        torch.testing.assert_close(p.grad, a, rtol=0, atol=0)
    assert float(clip_gradients(net, ref / 10)) == pytest.approx(ref, rel=1e-6)  # returns the norm before
    after = np.sqrt(sum(np.sum(p.grad.double().numpy() ** 2) for p in net.parameters()))
    assert after == pytest.approx(ref / 10, rel=1e-5)
    for a, p in zip(before, net.parameters()):  # the same direction
        np.testing.assert_allclose(p.grad.numpy(), a.numpy() / 10, rtol=1e-5, atol=1e-12)
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="grad_clip"):
            TrainConfig(grad_clip=bad)


def test_clipping_equals_torchs_clip_grad_norm_bit_for_bit():
    """The CPU skips the rescale under the limit; the gradients must be torch's, exactly."""
    import copy

    from karaoke.nn.training import clip_gradients

    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Conv1d(1, 4, 5), torch.nn.Flatten(), torch.nn.Linear(4 * 60, 3))
    net(torch.randn(8, 1, 64)).square().sum().backward()
    norm = float(torch.nn.utils.get_total_norm([p.grad for p in net.parameters()]))
    for limit in (norm * 0.5, norm * (1 - 1e-7), norm, norm * 2, float("nan")):
        ours, ref = copy.deepcopy(net), copy.deepcopy(net)
        for m in (ours, ref):  # (deepcopy leaves the gradients behind)
            for p, q in zip(m.parameters(), net.parameters()):
                p.grad = q.grad.clone()
        if limit != limit:  # a non-finite gradient: both rescale by NaN
            for m in (ours, ref):
                next(m.parameters()).grad[0] = float("inf")
            limit = norm
        got = clip_gradients(ours, limit)
        want = torch.nn.utils.clip_grad_norm_(ref.parameters(), limit, foreach=True)
        torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)
        for a, b in zip(ours.parameters(), ref.parameters()):
            torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=0, equal_nan=True)


def test_training_records_gradient_norms_and_clips_when_asked(small_survey, tmp_path):
    mc, tc = _small(small_survey)
    tc = tc.replace(epochs=1, max_velocity=0.0)
    assert "grad_clip" not in tc.to_dict() and run_key(mc, tc.replace(grad_clip=1.0), "h") != run_key(mc, tc, "h")
    train(small_survey, mc, tc, tmp_path / "free", progress=False)
    (free,) = load_history(tmp_path / "free")
    assert 0 < free["grad_norm_p50"] <= free["grad_norm_max"] and free["clipped"] == 0.0
    clip = free["grad_norm_p50"] / 100  # every step is clipped: the run differs from the free one
    train(small_survey, mc, tc.replace(grad_clip=clip), tmp_path / "clipped", progress=False)
    (cl,) = load_history(tmp_path / "clipped")
    assert cl["clipped"] == 1.0 and cl["l1"] != free["l1"]
    assert load_model(tmp_path / "clipped").config == mc


def test_history_of_a_run_resumed_from_before_the_norms_keeps_every_column(tmp_path):
    from karaoke.nn.training import _write_history

    old = {"epoch": 1, "step": 10, "loss": 1.0}
    _write_history(tmp_path / "history.csv", [old, {**old, "epoch": 2, "grad_norm_max": 3.5}])
    h = load_history(tmp_path)
    assert np.isnan(h[0]["grad_norm_max"]) and h[1]["grad_norm_max"] == 3.5 and h[1]["epoch"] == 2


def test_interrupted_training_resumes_to_the_same_weights(small_survey, tmp_path):
    mc, tc = _small(small_survey)
    full = train(small_survey, mc, tc, tmp_path / "full", progress=False)
    train(small_survey, mc, tc, tmp_path / "cut", progress=False, max_steps=3)  # "killed" mid-epoch 1
    assert (tmp_path / "cut" / "checkpoint.pt").exists() and not (tmp_path / "cut" / "model.pt").exists()
    resumed = train(small_survey, mc, tc, tmp_path / "cut", progress=False)
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=k)
    with pytest.raises(ValueError, match="another configuration"):
        train(small_survey, mc, tc.replace(lr=5e-4), tmp_path / "cut", progress=False)


def test_cache_reuses_a_finished_run(small_survey, tmp_path):
    mc, tc = _small(small_survey)
    tc = tc.replace(epochs=1)
    m1 = train_cached(small_survey, mc, tc, root=tmp_path, progress=False)
    stamp = (m1.run_dir / "model.pt").stat().st_mtime_ns
    m2 = train_cached(small_survey, mc, tc, root=tmp_path, progress=False)
    assert m2.run_dir == m1.run_dir and (m2.run_dir / "model.pt").stat().st_mtime_ns == stamp
    assert run_key(mc, tc, "a") != run_key(mc, tc.replace(max_velocity=0.0), "a") != run_key(mc, tc, "b")


def test_training_rejects_mismatched_inputs(small_survey, tmp_path):
    mc, tc = _small(small_survey)
    with pytest.raises(ValueError, match="pixels"):
        train(small_survey, ModelConfig.scaled(2048, 8, width=0.25), tc, tmp_path)
    bary = small_survey.subset(np.arange(10))
    bary.frame = "barycentric"
    with pytest.raises(ValueError, match="topocentric"):
        train(bary, mc, tc, tmp_path)


def test_whitened_network_carries_its_guard_and_passes_the_input_through_there(small_survey, tmp_path):
    from karaoke.nn.whitening import guard_mask

    mc, tc = _small(small_survey)
    train(small_survey, mc, tc, tmp_path / "run", progress=False, max_steps=2)
    with pytest.raises(ValueError, match="training has not finished.*--allow-partial"):
        load_model(tmp_path / "run")  # a partly trained network is refused unless asked for
    model = load_model(tmp_path / "run", allow_partial=True)  # from the resumable checkpoint
    assert model.meta.partial
    expected = guard_mask(small_survey.grid, 30.0)
    assert model.input_guard is not None and 0 < (expected == 0).sum() < small_survey.n_pixels // 4
    np.testing.assert_array_equal(model.input_guard, expected)
    x = np.asarray(small_survey.normalised()[0].flux[:3])
    r = model.reconstruct(x)
    edge = expected == 0
    np.testing.assert_array_equal(r[:, edge], x[:, edge])  # no correction claimed on the guard band
    x2 = x.copy()
    x2[:, edge] = 5.0  # what lies under the guard cannot change the reconstruction elsewhere
    np.testing.assert_allclose(model.reconstruct(x2)[:, ~edge], r[:, ~edge], atol=1e-6)


# ---- silent failures of training (issue 10) ----


def test_nan_pixels_in_a_survey_are_masked_and_the_model_stays_finite(small_survey, tmp_path):
    from karaoke.spectra.survey import Survey

    flux = np.array(small_survey.flux, copy=True)
    flux[::7, 100:140] = np.nan
    flux[3, 500] = np.inf
    s = Survey(wave=small_survey.wave, flux=flux, meta=dict(small_survey.meta))
    assert s.attrs["n_nonfinite_masked"] == 14 * 40 + 1 and np.isfinite(s.flux).all()
    assert s.pixel_mask()[0, 100:140].sum() == 0 and s.pixel_mask()[1, 100:140].all()
    mc, tc = _small(small_survey)
    model = train(s, mc, tc.replace(epochs=1), tmp_path / "run", progress=False)
    assert all(torch.isfinite(p).all() for p in model.state_dict().values())
    hist = load_history(tmp_path / "run")
    assert all(np.isfinite(h["loss"]) and np.isfinite(h["val_l1"]) for h in hist)


def test_a_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(small_survey, tmp_path, monkeypatch):
    import karaoke.nn.training as kt

    mc, tc = _small(small_survey)
    real, calls = kt.vae_loss, []

    def poisoned(*a, **k):
        calls.append(1)
        tot, l1, kl = real(*a, **k)
        return (tot * float("nan"), l1, kl) if len(calls) > steps_per_epoch else (tot, l1, kl)

    steps_per_epoch = int(np.ceil(small_survey.split(tc.holdout_fraction)[0].size / tc.batch_size))
    monkeypatch.setattr(kt, "vae_loss", poisoned)
    with pytest.raises(kt.TrainingDiverged, match="non-finite in epoch 2"):
        train(small_survey, mc, tc, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "model.pt").exists()
    ck = kt.read_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert ck["epoch"] == 1 and all(torch.isfinite(v).all() for v in ck["model_state"].values())
    with pytest.raises(ValueError, match="training has not finished"):
        load_model(tmp_path / "run")


def test_a_model_with_non_finite_weights_is_refused(tmp_path):
    from karaoke.nn.checkpoint import save_model
    from karaoke.nn.model import Karaoke

    net = Karaoke(ModelConfig.scaled(1024, 4, width=0.25))
    with torch.no_grad():
        net.fc2.weight[0, 0] = float("nan")
    save_model(net, tmp_path / "model.pt")
    with pytest.raises(ValueError, match="non-finite weights"):
        load_model(tmp_path / "model.pt")


def test_checkpoint_rng_states_load_as_cpu_byte_tensors_whatever_the_device(small_survey, tmp_path, monkeypatch):
    """Resuming on CUDA failed: torch.load(map_location=cuda) moved the saved generator states to
    the GPU and Generator.set_state refuses them. read_checkpoint always maps to the CPU."""
    import karaoke.nn.training as kt

    mc, tc = _small(small_survey)
    train(small_survey, mc, tc, tmp_path / "run", progress=False, max_steps=2)
    seen = []
    real_load = torch.load

    def spy(*a, **k):
        seen.append(k.get("map_location"))
        return real_load(*a, **k)

    monkeypatch.setattr(kt.torch, "load", spy)
    ck = kt.read_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert seen == ["cpu"]
    for key in kt.RNG_KEYS:
        state = ck[key]
        assert state.device.type == "cpu" and state.dtype == torch.uint8
    torch.Generator().set_state(ck["rng_sample"])
    torch.Generator().set_state(ck["rng_whiten"])
    if torch.cuda.is_available():  # on a GPU machine: a CUDA generator takes the same CPU state
        g = torch.Generator(device="cuda")
        g.set_state(g.get_state())
    ck["rng_whiten"] = ck["rng_whiten"].float()
    torch.save(ck, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="rng_whiten is not a generator state"):
        kt.read_checkpoint(tmp_path / "bad.pt")


def test_an_unavailable_device_is_a_clear_error():
    from karaoke.nn.training import pick_device

    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            pick_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        pick_device("gpu0")
    assert pick_device("cpu").type == "cpu"


def test_training_benchmark_runs_the_projects_own_loop():
    """benchmarks/training.py at a tiny size: a positive time per step of the project's train()."""

    from karaoke.nn.flops import step_flops
    from karaoke.nn.model import Karaoke

    bench = load_script("benchmarks/training.py")
    survey = bench._survey(1024, 6315.0, n=64)
    sec = bench.time_steps(
        survey,
        ModelConfig.scaled(1024, 4, width=0.25),
        TrainConfig(epochs=100, batch_size=8, lr=1e-3, kl_warmup=(0, 1)),
        "cpu",
    )
    assert 0 < sec < 10
    mc = ModelConfig.scaled(1024, 4, width=0.25)
    rows = bench.layer_rows(mc, batch=4, repeats=1)  # each layer alone: together, the whole step's FLOPs
    assert [r["layer"] for r in rows] == [name for name, _ in Karaoke(mc).named_children()]
    assert sum(r["flops"] for r in rows) == step_flops(mc, 4) and all(r["seconds"] > 0 for r in rows)
    parts = bench.component_rows(mc, TrainConfig(batch_size=4, grad_clip=1.0), steps=3, warm=1)
    assert [name for name, _ in parts][2:5] == ["forward", "ELBO", "backward"] and len(parts) == 7
    assert all(sec > 0 for _, sec in parts)


def _rising_val_loss(monkeypatch, bad_epochs):
    """Make the held-out L1 jump (x 2) after the given epochs (1-based), as a collapse does."""
    import karaoke.nn.training as kt

    real, calls = kt.evaluate_loss, []

    def jumping(*a, **k):
        calls.append(1)
        v = real(*a, **k)
        return 2.0 * v if len(calls) in bad_epochs else v

    monkeypatch.setattr(kt, "evaluate_loss", jumping)


def test_an_untripped_collapse_guard_leaves_the_trajectory_unchanged(small_survey, tmp_path):
    """A guarded run that never rolls back equals the unguarded run bit for bit (same process,
    same float path): the guard only keeps copies and compares losses."""
    mc, tc = _small(small_survey)
    tc = tc.replace(epochs=3)
    a = train(small_survey, mc, tc, tmp_path / "plain", progress=False)
    b = train(small_survey, mc, tc.replace(guard_rise=10.0), tmp_path / "guarded", progress=False)
    for (k, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-7, msg=k)
    hist = load_history(tmp_path / "guarded")
    assert [h["rolled_back"] for h in hist] == [0, 0, 0] and all(h["lr_scale"] == 1.0 for h in hist)
    assert "guard_rise" not in tc.to_dict() and run_key(mc, tc, "h") != run_key(mc, tc.replace(guard_rise=0.2), "h")


def test_a_clipping_threshold_above_every_gradient_norm_leaves_the_trajectory_unchanged(small_survey, tmp_path):
    """Clipping rescales by min(1, threshold / norm): above every step's norm it multiplies by
    exactly 1, so the run is the unclipped run (the robustness benchmark relies on it)."""
    mc, tc = _small(small_survey)
    a = train(small_survey, mc, tc, tmp_path / "plain", progress=False)
    largest = max(h["grad_norm_max"] for h in load_history(tmp_path / "plain"))
    b = train(small_survey, mc, tc.replace(grad_clip=2 * largest), tmp_path / "clipped", progress=False)
    for (k, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-7, msg=k)
    assert all(h["clipped"] == 0 for h in load_history(tmp_path / "clipped"))


def test_the_collapse_guard_rolls_back_to_the_best_epoch_at_half_the_rate(small_survey, tmp_path, monkeypatch):
    """A held-out L1 that rises past the threshold returns the run to its best epoch's weights
    and Adam moments; the rest of the schedule runs at half the learning rate."""
    import karaoke.nn.training as kt

    mc, tc = _small(small_survey)
    tc = tc.replace(epochs=3, guard_rise=0.3)
    ref = train(small_survey, mc, tc.replace(epochs=1), tmp_path / "one", progress=False)  # epoch 1 alone
    _rising_val_loss(monkeypatch, bad_epochs={2})
    rates = []
    real_step = torch.optim.Adam.step

    def recording(self, *a, **k):
        rates.append(self.param_groups[0]["lr"])
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.Adam, "step", recording)
    snapshots = []
    real_roll = kt.TrainingState.roll_back

    def roll(self, model, opt, *a, **k):
        real_roll(self, model, opt, *a, **k)
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})

    monkeypatch.setattr(kt.TrainingState, "roll_back", roll)
    train(small_survey, mc, tc, tmp_path / "run", progress=False)
    hist = load_history(tmp_path / "run")
    assert [h["rolled_back"] for h in hist] == [0, 1, 0]
    assert [h["lr_scale"] for h in hist] == [1.0, 0.5, 0.5]
    assert kt.guard_trip_epoch([h["val_l1"] for h in hist], tc.guard_rise) == 2  # the rule, replayed
    (after,) = snapshots  # the weights right after the rollback are those of epoch 1
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(after[k], v, rtol=1e-6, atol=1e-7, msg=k)
    n = len(rates) // 3
    total = 3 * n
    assert rates[2 * n] == pytest.approx(0.5 * tc.lr_at(2 * n, total), rel=1e-12)
    assert rates[n - 1] == pytest.approx(tc.lr_at(n - 1, total), rel=1e-12)


def test_the_collapse_guard_recovers_from_a_non_finite_loss(small_survey, tmp_path, monkeypatch):
    """With the guard on, a non-finite epoch after a good one rolls back instead of stopping."""
    import karaoke.nn.training as kt

    mc, tc = _small(small_survey)
    real, calls = kt.vae_loss, []
    steps_per_epoch = int(np.ceil(small_survey.split(tc.holdout_fraction)[0].size / tc.batch_size))

    def poisoned(*a, **k):
        calls.append(1)
        tot, l1, kl = real(*a, **k)
        return (tot * float("nan"), l1, kl) if len(calls) == steps_per_epoch + 3 else (tot, l1, kl)

    monkeypatch.setattr(kt, "vae_loss", poisoned)
    model = train(small_survey, mc, tc.replace(epochs=3, guard_rise=0.5), tmp_path / "run", progress=False)
    hist = load_history(tmp_path / "run")
    assert [h["rolled_back"] for h in hist] == [0, 1, 0] and np.isnan(hist[1]["val_l1"])
    assert all(torch.isfinite(p).all() for p in model.state_dict().values())


def test_a_run_interrupted_after_a_rollback_resumes_to_the_same_weights(small_survey, tmp_path, monkeypatch):
    """The guard's best state and rate factor are in the checkpoint: resuming after a rollback
    gives the uninterrupted run's weights."""
    mc, tc = _small(small_survey)
    tc = tc.replace(epochs=3, guard_rise=0.3)
    _rising_val_loss(monkeypatch, bad_epochs={2})
    whole = train(small_survey, mc, tc, tmp_path / "whole", progress=False)
    steps_per_epoch = int(np.ceil(small_survey.split(tc.holdout_fraction)[0].size / tc.batch_size))
    _rising_val_loss(monkeypatch, bad_epochs={2})
    train(small_survey, mc, tc, tmp_path / "cut", progress=False, max_steps=2 * steps_per_epoch + 2)
    _rising_val_loss(monkeypatch, bad_epochs=set())  # the resumed call sees epoch 3 only
    resumed = train(small_survey, mc, tc, tmp_path / "cut", progress=False)
    for (k, x), y in zip(whole.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-7, msg=k)
    assert [h["rolled_back"] for h in load_history(tmp_path / "cut")] == [0, 1, 0]


def test_the_collapse_guard_ignores_the_epochs_of_the_kl_warm_up(small_survey, tmp_path, monkeypatch):
    """While the KL weight ramps up the held-out L1 of a healthy run rises; the guard neither
    keeps such an epoch as its best nor compares with one, so a rise there rolls nothing back,
    and the first epoch after the warm-up is the best it returns to."""
    import karaoke.nn.training as kt

    mc, tc = _small(small_survey)
    steps_per_epoch = int(np.ceil(small_survey.split(tc.holdout_fraction)[0].size / tc.batch_size))
    tc = tc.replace(epochs=4, guard_rise=0.3, kl_warmup=(0, 2 * steps_per_epoch + 1))  # ends in epoch 3
    _rising_val_loss(monkeypatch, bad_epochs={2, 4})  # epoch 2: in the warm-up; epoch 4: after it
    train(small_survey, mc, tc, tmp_path / "run", progress=False)
    hist = load_history(tmp_path / "run")
    watched = [tc.warmed_up(h["step"]) for h in hist]
    assert watched == [False, False, True, True]
    assert [h["rolled_back"] for h in hist] == [0, 0, 0, 1]
    assert [h["lr_scale"] for h in hist] == [1.0, 1.0, 1.0, 0.5]
    val = [h["val_l1"] for h in hist]
    assert kt.guard_trip_epoch(val, tc.guard_rise, watched) == 4  # the rule, replayed
    assert kt.guard_trip_epoch(val[:3], tc.guard_rise) == 2  # counted from epoch 1, epoch 2 would trip


def test_guard_trip_epoch_replays_the_rule_on_a_history():
    from karaoke.nn.training import guard_trip_epoch

    assert guard_trip_epoch([0.03, 0.031, 0.025, 0.029, 0.02], 0.2) is None  # 0.029 < 1.2 x 0.025
    assert guard_trip_epoch([0.03, 0.031, 0.025, 0.0301, 0.02], 0.2) == 4
    assert guard_trip_epoch([0.03, float("nan")], 0.2) == 2
    assert guard_trip_epoch([float("nan"), 0.03], 0.2) is None  # nothing kept yet to return to
    # the H2O window's seed-1 network: its first epoch (KL weight 0.23 of 1.0) is no best to keep
    h2o = [0.0469, 0.0499, 0.0539, 0.0579, 0.0505]
    assert guard_trip_epoch(h2o, 0.2) == 4
    assert guard_trip_epoch(h2o, 0.2, [False, False, True, True, True]) is None
    with pytest.raises(ValueError, match="warmed_up has 2 epochs"):
        guard_trip_epoch(h2o, 0.2, [True, True])


def test_logvar_range_clamps_the_posterior_only_outside_it():
    """The clamp bounds a runaway log-variance (an overflowing exp in the sampled code and the
    KL term) and is the identity, gradients included, inside the range."""
    from karaoke.nn.model import Karaoke

    torch.manual_seed(0)
    net = Karaoke(ModelConfig.scaled(1024, 4, width=0.25)).train()
    x = 1 + 0.01 * torch.randn(3, 1024)
    _, _, plain = net(x, sample=False)
    _, _, same = net(x, sample=False, logvar_range=(-30.0, 5.0))
    assert torch.equal(plain, same)  # the initial logvar (-6) is inside
    with torch.no_grad():
        net.fc12.bias.fill_(200.0)  # a runaway posterior
    y, _, lv = net(x, sample=True, logvar_range=(-30.0, 5.0))
    assert float(lv.max()) == 5.0 and torch.isfinite(y).all()
    tot, _, kl = vae_loss(y, x, torch.ones_like(x), *net(x, sample=False, logvar_range=(-30.0, 5.0))[1:], beta=1.0)
    assert torch.isfinite(tot) and torch.isfinite(kl)
    with pytest.raises(ValueError, match="logvar_range"):
        TrainConfig(logvar_range=(5.0, -30.0))
    assert "logvar_range" not in TrainConfig().to_dict()  # earlier runs keep their keys


def test_adams_betas_and_eps_reach_the_optimiser_and_key_the_run(small_survey, tmp_path):
    """``adam_betas``/``adam_eps`` are the optimiser's (saved in its checkpointed state); the
    defaults leave the keys of earlier runs unchanged, other values key a run of their own."""
    from karaoke.nn.state import read_checkpoint

    mc, tc = _small(small_survey)
    tc = tc.replace(epochs=1, adam_betas=(0.9, 0.95), adam_eps=1e-6)
    train(small_survey, mc, tc, tmp_path / "run", progress=False)
    group = read_checkpoint(tmp_path / "run" / "checkpoint.pt")["optimizer_state"]["param_groups"][0]
    assert tuple(group["betas"]) == (0.9, 0.95) and group["eps"] == 1e-6
    assert "adam_betas" not in TrainConfig().to_dict() and "adam_eps" not in TrainConfig().to_dict()
    assert run_key(mc, tc, "h") != run_key(mc, tc.replace(adam_betas=(0.9, 0.999)), "h")
    for bad in ({"adam_betas": (0.9, 1.0)}, {"adam_betas": (0.9,)}, {"adam_eps": 0.0}, {"adam_eps": float("nan")}):
        with pytest.raises(ValueError, match="adam_"):
            TrainConfig(**bad)


def test_a_kl_target_holds_the_kl_term_at_a_capacity():
    """``kl_target`` C: the loss is L1 + beta |KL - C| (a hand computation on both sides of C),
    the KL returned is the plain KL, and the default leaves the loss and the run keys as they were."""
    r, t, m = torch.ones(1, 4), torch.zeros(1, 4), torch.ones(1, 4)
    mu, lv = torch.tensor([[1.0, 2.0]]), torch.zeros(1, 2)  # KL per spectrum = (1 + 4) / 2 = 2.5
    for target, penalty in ((1.0, 1.5), (4.0, 1.5), (2.5, 0.0)):
        tot, l1, kl = vae_loss(r, t, m, mu, lv, beta=0.5, reduction="sum", kl_target=target)
        assert float(kl) == pytest.approx(2.5) and float(l1) == pytest.approx(4.0)
        assert float(tot) == pytest.approx(4.0 + 0.5 * penalty)
    assert float(vae_loss(r, t, m, mu, lv, beta=0.5, reduction="sum")[0]) == pytest.approx(4.0 + 0.5 * 2.5)
    assert "kl_target" not in TrainConfig().to_dict()
    with pytest.raises(ValueError, match="kl_target"):
        TrainConfig(kl_target=-1.0)


def test_kl_free_nats_take_the_kl_terms_pull_away_below_the_floor():
    """``kl_free`` F: the loss is L1 + beta max(KL, F) (a hand computation on both sides of F); below
    the floor the code's gradient comes from the L1 alone (zero here), above it the KL's pull is the
    plain one; the default leaves the run keys as they were, and the two KL forms exclude each other."""
    r, t, m = torch.ones(1, 4), torch.zeros(1, 4), torch.ones(1, 4)
    for floor, term in ((4.0, 4.0), (1.0, 2.5)):
        mu, lv = torch.tensor([[1.0, 2.0]], requires_grad=True), torch.zeros(1, 2)  # KL = 2.5
        tot, l1, kl = vae_loss(r, t, m, mu, lv, beta=0.5, reduction="sum", kl_free=floor)
        assert float(kl) == pytest.approx(2.5) and float(tot) == pytest.approx(4.0 + 0.5 * term)
        tot.backward()
        expected = [0.0, 0.0] if floor > 2.5 else [0.5 * 1.0, 0.5 * 2.0]  # d(beta KL)/d mu = beta mu
        assert mu.grad[0].tolist() == pytest.approx(expected)
    assert "kl_free" not in TrainConfig().to_dict()
    assert TrainConfig(kl_free=60.0).to_dict()["kl_free"] == 60.0
    for bad in ({"kl_free": -1.0}, {"kl_free": float("inf")}, {"kl_free": 10.0, "kl_target": 80.0}):
        with pytest.raises(ValueError, match="kl_free"):
            TrainConfig(**bad)


def test_a_tighter_kl_weight_drops_the_free_nats_and_a_looser_one_keeps_them():
    """``at_kl_weight``: a ladder rung or ``--kl-weight`` above the recipe's weight trains with no
    floor (the floor would hold the tighter code open); at or below it the floor stays; nothing
    else of the recipe changes, and the preset's own rung is the preset's network."""
    from karaoke.presets import get_preset

    tc = TrainConfig(kl_weight=0.04, kl_free=60.0, lr=2e-3)
    assert tc.at_kl_weight(1.0) == tc.replace(kl_weight=1.0, kl_free=0.0)
    assert tc.at_kl_weight(0.01) == tc.replace(kl_weight=0.01)
    assert tc.at_kl_weight(0.04) == tc
    p = get_preset("regime")
    assert p.train_config(kl_weight=p.train.kl_weight) == p.train_config()
    assert p.train_config(kl_weight=1.0).kl_free == 0.0
    assert p.train_config(variational=False).kl_free == 0.0  # the autoencoder has no KL term


def _raw_weights_step_by_step(survey, mc, tc, run, steps):
    """The raw weights after each of the first ``steps`` optimiser steps (one resumed step a call)."""
    from karaoke.nn.state import read_checkpoint

    out = []
    for _ in range(steps):
        train(survey, mc, tc, run, progress=False, max_steps=1)
        out.append({k: v.double() for k, v in read_checkpoint(run / "checkpoint.pt")["model_state"].items()})
    return out


def test_the_weight_average_is_the_ema_of_the_raw_weights_and_leaves_their_trajectory(small_survey, tmp_path):
    """``ema_decay`` d: after step k the average is d e + (1 - d) w_k with e = w_1 (a float64
    replay of the raw weights); the raw weights are those of the run without it."""
    from karaoke.nn.state import read_checkpoint

    mc, tc = _small(small_survey)
    d, k = 0.8, 4
    raw = _raw_weights_step_by_step(small_survey, mc, tc, tmp_path / "raw", k)
    ref = dict(raw[0])
    for w in raw[1:]:
        ref = {n: d * ref[n] + (1 - d) * w[n] for n in ref}
    train(small_survey, mc, tc.replace(ema_decay=d), tmp_path / "ema", progress=False, max_steps=k)
    ck = read_checkpoint(tmp_path / "ema" / "checkpoint.pt")
    assert int(ck["ema_state"]["n_averaged"]) == k
    for n, w in ck["model_state"].items():
        torch.testing.assert_close(w.double(), raw[-1][n], rtol=1e-5, atol=1e-7, msg=n)
        torch.testing.assert_close(ck["ema_state"][f"module.{n}"].double(), ref[n], rtol=1e-5, atol=1e-7, msg=n)
    assert any(not torch.allclose(ck["ema_state"][f"module.{n}"], w) for n, w in ck["model_state"].items())


def test_a_run_with_a_weight_average_saves_the_average_and_scores_it(small_survey, tmp_path):
    """The saved model's weights are the average, not the last raw weights; the held-out L1 of
    each epoch is the average's; interrupted and resumed, the run ends at the same average."""
    import karaoke.nn.training as kt
    from karaoke.nn.state import read_checkpoint

    mc, tc = _small(small_survey)
    tc = tc.replace(ema_decay=0.9)
    model = train(small_survey, mc, tc, tmp_path / "full", progress=False)
    ck = read_checkpoint(tmp_path / "full" / "checkpoint.pt")
    saved = load_model(tmp_path / "full")
    for n, v in saved.state_dict().items():
        torch.testing.assert_close(v, ck["ema_state"][f"module.{n}"], msg=n)
        torch.testing.assert_close(model.state_dict()[n], v, msg=n)
    assert any(not torch.equal(ck["model_state"][n], v) for n, v in saved.state_dict().items())
    norm, _, val_idx, _ = kt.prepare_training_data(small_survey, tc)
    guard = torch.from_numpy(saved.input_guard)
    val = kt.evaluate_loss(saved, norm.flux[val_idx], norm.pixel_mask()[val_idx], norm.grid, tc, "cpu", guard=guard)
    assert load_history(tmp_path / "full")[-1]["val_l1"] == pytest.approx(val, rel=1e-5)
    train(small_survey, mc, tc, tmp_path / "cut", progress=False, max_steps=3)
    resumed = train(small_survey, mc, tc, tmp_path / "cut", progress=False)
    for (n, a), b in zip(model.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=n)


def test_a_rollback_returns_the_weight_average_to_the_best_epoch_too(small_survey, tmp_path, monkeypatch):
    """With the guard and the average, a rollback restores the average of the best epoch (the
    one-epoch run's saved model) along with the raw weights."""
    import karaoke.nn.training as kt

    mc, tc = _small(small_survey)
    tc = tc.replace(epochs=3, guard_rise=0.3, ema_decay=0.9)
    ref = train(small_survey, mc, tc.replace(epochs=1), tmp_path / "one", progress=False)
    _rising_val_loss(monkeypatch, bad_epochs={2})
    after = []
    real_roll = kt.TrainingState.roll_back

    def roll(self, model, opt, *a, **k):
        real_roll(self, model, opt, *a, **k)
        after.append({n: v.clone() for n, v in k["ema"].module.state_dict().items()})

    monkeypatch.setattr(kt.TrainingState, "roll_back", roll)
    train(small_survey, mc, tc, tmp_path / "run", progress=False)
    assert [h["rolled_back"] for h in load_history(tmp_path / "run")] == [0, 1, 0]
    for n, v in ref.state_dict().items():
        torch.testing.assert_close(after[0][n], v, rtol=1e-6, atol=1e-7, msg=n)


def test_ema_decay_is_checked_and_keys_only_the_runs_that_set_it():
    mc = ModelConfig.scaled(1024, latent_dim=8, width=0.25)
    assert "ema_decay" not in TrainConfig().to_dict()
    assert run_key(mc, TrainConfig(), "h") != run_key(mc, TrainConfig(ema_decay=0.999), "h")
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="ema_decay"):
            TrainConfig(ema_decay=bad)
