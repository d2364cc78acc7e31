"""benchmarks/bottleneck.py: the truth-free ranking next to the exact one, on stand-in models."""

import numpy as np
import pytest

from karaoke.evaluation.metrics import PCABaseline
from karaoke.synth.generator import SurveyConfig, make_survey
from tests.helpers import load_script


@pytest.fixture(scope="module")
def bench():
    return load_script("benchmarks/bottleneck.py")


def test_labels_name_the_bottleneck(bench):
    assert bench.label({"kl_weight": 0.3}) == "KL 0.3"
    assert bench.label({"latent_dim": 8}) == "latent 8"
    assert bench.label({"variational": False}) == "AE"


def test_score_gives_exact_and_estimated_responses_and_both_picks(bench):
    """PCAs stand in for networks: the row of each has the exact and the estimated responses
    within 0.1 of each other, and both rankings pick the many-component PCA (the only one that
    keeps the stars)."""
    s = make_survey(SurveyConfig(n_spectra=160, n_stars=16, n_pixels=2048, grid_start=6315.0, seed=2), progress=False)
    norm, _ = s.normalised()
    train, test = norm.split(0.25)
    models = [PCABaseline(k).fit(norm.subset(train).flux) for k in (2, 48)]
    rows = bench.family_rows("toy", ["pca 2", "pca 48"], models, norm.subset(test), norm, test)
    assert [r["network"] for r in rows] == ["pca 2", "pca 48"]
    for r in rows:
        assert (
            abs(r["leakage_est"] - r["leakage"]) < 0.1 and abs(r["stellar_response_est"] - r["stellar_response"]) < 0.1
        )
        assert np.isfinite(r["Qt"]) and np.isfinite(r["Qs"])
    assert [r["pick_est"] for r in rows] == [False, True] and [r["pick_truth"] for r in rows] == [False, True]


def test_the_csv_names_which_ranking_picked_each_network(bench):
    assert bench.picked_by({"pick_est": True, "pick_truth": True}) == "estimate + truth"
    assert bench.picked_by({"pick_est": False, "pick_truth": True}) == "truth"
    assert bench.picked_by({"pick_est": False, "pick_truth": False}) == ""
