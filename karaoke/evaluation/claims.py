"""The paper's claims as thresholds, in one place: the science tests, ``benchmarks/science.py``
and the README's results table all read them from here.

Each claim compares the summaries (:func:`karaoke.evaluation.sweeps.summarise`, medians over
held-out spectra with the exact truth) of the whitened network (``w``, N = 30 km/s) and of the
topocentric one (``t``, N = 0).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

#: Whitened Qt at most this fraction of the topocentric Qt (Fig. 7).
QT_RATIO_MAX = 0.5
#: Both networks follow the stellar lines of their input at least this much (line responses).
STELLAR_RESPONSE_MIN = 0.6
#: The whitened network's fixed telluric pattern at most this fraction of the topocentric one's.
STATIC_RATIO_MAX = 0.5
#: The whitened network reconstructs the stars: median Qs at most this.
QS_MAX = 0.35


@dataclass(frozen=True)
class Claim:
    """One claim: its name, what it says, and a test on the (whitened, topocentric) summaries."""

    name: str
    text: str
    holds: Callable[[dict, dict], bool]


CLAIMS = (
    Claim("qt_halved", f"whitened Qt <= {QT_RATIO_MAX:g} x topocentric Qt",
          lambda w, t: w["Qt"] <= QT_RATIO_MAX * t["Qt"]),
    Claim("stellar_followed", f"both stellar responses >= {STELLAR_RESPONSE_MIN:g}",
          lambda w, t: w["stellar_response"] >= STELLAR_RESPONSE_MIN and t["stellar_response"] >= STELLAR_RESPONSE_MIN),
    Claim("static_removed", f"whitened static pattern <= {STATIC_RATIO_MAX:g} x topocentric",
          lambda w, t: w["static_pattern"] <= STATIC_RATIO_MAX * t["static_pattern"]),
    Claim("stars_reconstructed", f"whitened Qs <= {QS_MAX:g}", lambda w, t: w["Qs"] <= QS_MAX),
)


def check_claims(whitened: dict, topocentric: dict) -> dict:
    """Which claims hold.

    Parameters
    ----------
    whitened, topocentric : dict
        Summaries with ``Qt``, ``Qs``, ``stellar_response`` and ``static_pattern``.

    Returns
    -------
    dict
        Claim name -> bool, in the order of :data:`CLAIMS`.
    """
    return {c.name: bool(c.holds(whitened, topocentric)) for c in CLAIMS}
