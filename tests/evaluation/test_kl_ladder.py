"""The KL ladder through the run cache (karaoke.evaluation.bottleneck.ladder_cached) against the
ladder in a folder of its own (train_kl_ladder, what `karaoke train` runs)."""

import numpy as np
import pytest

from karaoke.evaluation.bottleneck import ladder_cached, train_kl_ladder
from karaoke.nn.model import ModelConfig
from karaoke.nn.training import TrainConfig, TrainingDiverged
from karaoke.synth.generator import SurveyConfig, make_survey


@pytest.fixture(scope="module")
def small():
    s = make_survey(SurveyConfig(n_spectra=80, n_stars=8, n_pixels=1024, seed=3), progress=False)
    return s, ModelConfig.scaled(1024, latent_dim=8), TrainConfig(epochs=1, seed=0)


def test_the_cached_ladder_chooses_as_the_folder_ladder_and_trains_once(small, tmp_path):
    survey, mc, tc = small
    model, choice = ladder_cached(survey, mc, tc, (1.0, 0.03), root=tmp_path / "cache", progress=False)
    assert choice["kl_weights"] == [0.03, 1.0] and set(choice["run_dirs"]) == {"0.03", "1"}
    assert str(model.run_dir) == choice["run_dirs"][f"{choice['chosen']:g}"]
    assert model.trained and not model.training
    # the same networks (same recipe, seed and data on one machine) ranked the same way
    folder = train_kl_ladder(survey, mc, tc, tmp_path / "ladder", (0.03, 1.0), progress=False)
    assert folder["chosen"] == choice["chosen"]
    assert [r["kl_weight"] for r in folder["ranking"]] == [r["kl_weight"] for r in choice["ranking"]]
    np.testing.assert_allclose(
        [r["separation"] for r in folder["ranking"]], [r["separation"] for r in choice["ranking"]], atol=1e-3
    )
    # a second call trains nothing: the run folders are untouched
    before = {
        w: (tmp_path / "cache").joinpath(d.rsplit("/", 1)[-1], "history.csv").read_text()
        for w, d in choice["run_dirs"].items()
    }
    again, choice2 = ladder_cached(survey, mc, tc, (0.03, 1.0), root=tmp_path / "cache", progress=False)
    assert choice2 == choice and str(again.run_dir) == str(model.run_dir)
    assert before == {
        w: (tmp_path / "cache").joinpath(d.rsplit("/", 1)[-1], "history.csv").read_text()
        for w, d in choice2["run_dirs"].items()
    }


def test_the_cached_ladder_reports_divergence_and_bad_input(small, tmp_path, monkeypatch):
    import karaoke.nn.training as training

    survey, mc, tc = small
    real = training.train_cached

    def diverge_at_one(s, m, t, *a, **k):
        if t.kl_weight == 1.0:
            raise TrainingDiverged("the loss became non-finite in epoch 1")
        return real(s, m, t, *a, **k)

    monkeypatch.setattr(training, "train_cached", diverge_at_one)
    with pytest.warns(RuntimeWarning, match="KL weight 1 left out"):
        model, choice = ladder_cached(survey, mc, tc, (0.03, 1.0), root=tmp_path, progress=False)
    assert choice["chosen"] == 0.03 and "non-finite" in choice["diverged"]["1"]
    with pytest.raises(ValueError, match="at least two"):
        ladder_cached(survey, mc, tc, (0.1,), root=tmp_path)
    with pytest.raises(ValueError, match="autoencoder"):
        ladder_cached(survey, mc.replace(variational=False), tc, root=tmp_path)
    no_stars = survey.subset(np.arange(len(survey)))
    no_stars.meta.pop("star_id")
    with pytest.raises(ValueError, match="star"):
        ladder_cached(no_stars, mc, tc, root=tmp_path)
