"""The notebook runner (karaoke.notebooks): the parameters it reads and the networks it trains first."""

import pytest

from karaoke.notebooks import notebook_networks, notebook_parameters, notebook_sources
from karaoke.presets import get_preset


def test_notebook_parameters_are_the_literals_of_the_tagged_cell(tmp_path):
    src = tmp_path / "09_x.py"
    src.write_text(
        '# %% [markdown]\n# title\n\n# %% tags=["parameters"]\npreset = "ci"\nvelocities = [0, 5]\n'
        "kl_weight = None  # comment\n\n# %%\nx = 1\n"
    )
    assert notebook_parameters(src) == {"preset": "ci", "velocities": [0, 5], "kl_weight": None}
    plain = tmp_path / "10_y.py"
    plain.write_text("# %%\nx = 1\n")
    assert notebook_parameters(plain) == {}


def _keys(jobs):
    return {(tc.max_velocity, mc.latent_dim, mc.variational) for _, mc, tc in jobs}


def test_the_runner_reads_every_network_the_notebooks_declare():
    """The whitening sweep (Fig. 7), the latent sweep (Fig. 9) and the AE (Fig. 8) around the
    primary network: 9 distinct networks in notebooks 02-06, the primary and topocentric ones
    shared; notebook 08 declares its SDSS-like preset's network; 00 and 01 train none."""
    srcs = {s.name[:2]: s for s in notebook_sources()}
    jobs = [j for n in ("02", "03", "04", "05", "06") for j in notebook_networks(srcs[n], "ci")]
    key = _keys(jobs)
    assert len(key) == 9
    assert {(v, 128, True) for v in (0.0, 5.0, 15.0, 30.0)} <= key
    assert {(30.0, d, True) for d in (2, 8, 128, 512, 1024)} <= key
    assert (30.0, 128, False) in key
    assert notebook_networks(srcs["00"], "ci") == notebook_networks(srcs["01"], "ci") == []
    (sdss,) = notebook_networks(srcs["08"], "ci")
    assert sdss[0].n_pixels == 2048


def test_a_notebook_parameter_change_changes_what_the_runner_trains(tmp_path):
    src = tmp_path / "04_whitening_sweep.py"
    src.write_text(
        '# %% tags=["parameters"]\npreset = "regime"\nvelocities = [0, 60]\nlatent_dim = 64\n\n'
        '# %% tags=["networks"]\nfrom karaoke.presets import preset_jobs\n\n'
        'networks = preset_jobs(preset, [{"velocity": v, "latent_dim": latent_dim} for v in velocities])\n'
    )
    assert _keys(notebook_networks(src, "ci")) == {(0.0, 64, True), (60.0, 64, True)}
    assert {job[2].epochs for job in notebook_networks(src, "ci")} == {get_preset("ci").train.epochs}  # not regime's
    assert _keys(notebook_networks(src, "ci", {"velocities": [5]})) == {(5.0, 64, True)}
    bad = tmp_path / "09_bad.py"
    bad.write_text('# %% tags=["networks"]\nnetworks = None\n')
    with pytest.raises(ValueError, match="list of training jobs"):
        notebook_networks(bad, "ci")


def test_the_runner_reports_the_claims_and_its_time(tmp_path, monkeypatch, capsys):
    import csv

    from karaoke.notebooks import report_claims

    monkeypatch.setenv("KARAOKE_FIGURES", str(tmp_path))
    with open(tmp_path / "table_primary_metrics.csv", "w", newline="") as fh:
        w = csv.DictWriter(
            fh, fieldnames=["method", "truth", "Qt", "Qs", "leakage", "stellar_response", "static_pattern"]
        )
        w.writeheader()
        w.writerow(
            {
                "method": "VAE whitened",
                "truth": "exact",
                "Qt": 0.3,
                "Qs": 0.5,
                "leakage": 0.1,
                "stellar_response": 0.8,
                "static_pattern": 0.05,
            }
        )
        w.writerow(
            {
                "method": "VAE topocentric",
                "truth": "exact",
                "Qt": 0.9,
                "Qs": 0.3,
                "leakage": 0.3,
                "stellar_response": 0.8,
                "static_pattern": 0.5,
            }
        )
    report_claims("ci", 90.0, ["07_wobble_comparison.py"])
    claims = list(csv.DictReader(open(tmp_path / "claims_ci.csv")))
    assert [c["holds"] for c in claims] == ["True", "True", "True", "False"] + [""] * 4
    (run,) = list(csv.DictReader(open(tmp_path / "run_ci.csv")))
    assert run["minutes"] == "1.5" and run["failed_notebooks"] == "07_wobble_comparison.py"
    out = capsys.readouterr().out
    assert "whitened Qs <= 0.35: does NOT hold" in out and "not decided" in out


def test_train_only_trains_and_runs_no_notebook(monkeypatch):
    import karaoke.notebooks as nbr

    planned = []
    monkeypatch.setattr(nbr, "pretrain", lambda scale, srcs: planned.append((scale, [s.name for s in srcs])))
    monkeypatch.setattr(nbr, "run", lambda *a, **k: (_ for _ in ()).throw(AssertionError("a notebook ran")))
    assert nbr.main(["--preset", "ci", "--train-only", "--only", "0[45]_*"]) == 0
    assert planned == [("ci", ["04_whitening_sweep.py", "05_compression_sweep.py"])]


def test_the_runner_trains_notebook_07s_ladder_as_the_notebook_asks_for_it(monkeypatch):
    """Notebook 07 trains alpha Cen B alone as `karaoke train` does by default (the preset's KL
    ladder, through the run cache): the runner plans exactly those networks, so the notebook
    finds every one of them in the cache, plus the mixed network at the preset's weight."""
    import pytest

    import karaoke.nn.pool as pool
    import karaoke.notebooks as nbr
    from karaoke.archive.realdata import alpha_cen_b_path
    from karaoke.presets import get_preset

    if not alpha_cen_b_path().exists():
        pytest.skip("needs the alpha Cen B spectra in ../shared/data")
    jobs = []
    monkeypatch.setattr(pool, "train_many", lambda js, **k: jobs.extend(js))
    src = [s for s in notebook_sources() if s.name.startswith("07")]
    nbr.pretrain("ci", src)
    p, preset = notebook_parameters(src[0]), get_preset("ci")
    alone = preset.train_config(p["velocity"], epochs=p["epochs_alone"])
    assert [tc for _, _, tc in jobs[:-1]] == [alone.at_kl_weight(w) for w in preset.kl_ladder]
    assert len(preset.kl_ladder) >= 2 and len({len(s) for s, _, _ in jobs[:-1]}) == 1
    assert jobs[-1][2] == preset.train_config(p["velocity"]) and len(jobs[-1][0]) > len(jobs[0][0])


def test_every_notebook_takes_the_preset_the_runner_passes():
    """The runner and papermill set ``preset``; a notebook without it would ignore the choice."""
    for src in notebook_sources():
        assert notebook_parameters(src).get("preset") == "ci", src.name
