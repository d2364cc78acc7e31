"""Scoring reconstructions, and the baselines karaoke is compared with.

Layer 5 (above :mod:`karaoke.presets`):

* :mod:`karaoke.evaluation.metrics` -- the paper's Qt and Qs, line responses, the static
  telluric pattern, the RMS of a transmission estimate; baselines PCA and low-pass;
* :mod:`karaoke.evaluation.joint_fit` -- a per-object joint fit of a star and a telluric
  spectrum (in the spirit of wobble);
* :mod:`karaoke.evaluation.telluric_fit` -- a line-by-line telluric fit (in the spirit of molecfit);
* :mod:`karaoke.evaluation.claims` -- the paper's claims as thresholds, read by the tests and benchmarks;
* :mod:`karaoke.evaluation.scoring` -- :func:`score`, the one scoring path (a :class:`Scores`
  in one metric vocabulary) used by the CLI, the notebooks, the benchmarks and the tests;
* :mod:`karaoke.evaluation.sweeps` -- the velocity/latent/AE sweeps of Figs. 7-9, and
  :func:`score_model` (a network's :func:`score` as table rows);
* :mod:`karaoke.evaluation.truthfree` -- the telluric leakage and stellar response estimated
  from the spectra, their BERVs and star identifiers alone (archives have no truth);
* :mod:`karaoke.evaluation.bottleneck` -- the KL weight chosen with them
  (``karaoke train``'s default for the converged presets, or ``--kl-weight auto``).
"""

from karaoke.evaluation.bottleneck import KL_LADDER, ladder_cached, ladder_jobs, rank_ladder, train_kl_ladder
from karaoke.evaluation.claims import CLAIMS, check_claims
from karaoke.evaluation.joint_fit import fit_wobble, wobble_reconstruct
from karaoke.evaluation.metrics import (
    Evaluation,
    MetricConfig,
    PCABaseline,
    evaluate_reconstruction,
    line_responses,
    lowpass_baseline,
    static_telluric_pattern,
    telluric_leakage,
    transmission_rms,
    truth_spectra,
)
from karaoke.evaluation.scoring import METRICS, Scores, score
from karaoke.evaluation.sweeps import read_table, run_sweep, score_model, summarise, write_table
from karaoke.evaluation.telluric_fit import fit_transmission
from karaoke.evaluation.truthfree import line_templates, rank_networks, self_responses

__all__ = [
    "CLAIMS",
    "check_claims",
    "fit_wobble",
    "wobble_reconstruct",
    "Evaluation",
    "MetricConfig",
    "PCABaseline",
    "evaluate_reconstruction",
    "line_responses",
    "lowpass_baseline",
    "static_telluric_pattern",
    "telluric_leakage",
    "transmission_rms",
    "truth_spectra",
    "METRICS",
    "Scores",
    "score",
    "read_table",
    "run_sweep",
    "score_model",
    "summarise",
    "write_table",
    "fit_transmission",
    "line_templates",
    "rank_networks",
    "self_responses",
    "KL_LADDER",
    "train_kl_ladder",
    "ladder_cached",
    "ladder_jobs",
    "rank_ladder",
]
