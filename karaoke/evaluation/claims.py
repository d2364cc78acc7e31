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
    Claim(
        "qt_halved", f"whitened Qt <= {QT_RATIO_MAX:g} x topocentric Qt", lambda w, t: w["Qt"] <= QT_RATIO_MAX * t["Qt"]
    ),
    Claim(
        "stellar_followed",
        f"both stellar responses >= {STELLAR_RESPONSE_MIN:g}",
        lambda w, t: w["stellar_response"] >= STELLAR_RESPONSE_MIN and t["stellar_response"] >= STELLAR_RESPONSE_MIN,
    ),
    Claim(
        "static_removed",
        f"whitened static pattern <= {STATIC_RATIO_MAX:g} x topocentric",
        lambda w, t: w["static_pattern"] <= STATIC_RATIO_MAX * t["static_pattern"],
    ),
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


@dataclass(frozen=True)
class FigureClaim:
    """One claim of Section 5's sweeps: the figure it belongs to, what it says, the table it
    reads (a key of the ``tables`` of :func:`figure_claims`) and a test on that table."""

    name: str
    figure: str
    text: str
    table: str
    holds: Callable[[dict], bool]


#: The sweeps' claims (Figs. 7-9); :data:`CLAIMS` covers Figs. 5-6. Each reads a dict of
#: summaries: ``velocity`` (N km/s -> summary), ``variational`` (True: VAE, False: AE) or
#: ``latent`` (latent size -> summary).
FIGURE_CLAIMS = (
    FigureClaim(
        "qt_falls_with_whitening",
        "Fig. 7",
        "Qt falls from N = 0 to N = 5 and on to N = 15-30 km/s",
        "velocity",
        lambda m: m[0.0]["Qt"] > m[5.0]["Qt"] > min(m[15.0]["Qt"], m[30.0]["Qt"]),
    ),
    FigureClaim(
        "whitening_keeps_stars",
        "Fig. 7",
        "Qs at N = 30 km/s within 0.1 of N = 0",
        "velocity",
        lambda m: abs(m[30.0]["Qs"] - m[0.0]["Qs"]) <= 0.1,
    ),
    FigureClaim(
        "ae_leaks_more",
        "Fig. 8",
        "the AE keeps more tellurics than the VAE (Qt and leakage)",
        "variational",
        lambda m: m[True]["Qt"] < m[False]["Qt"] and m[True]["leakage"] < m[False]["leakage"],
    ),
    FigureClaim(
        "small_latent_loses_stars",
        "Fig. 9",
        "the smallest latent space loses the most stellar lines (highest Qs, lower stellar response than 128)",
        "latent",
        lambda m: (
            m[min(m)]["Qs"] == max(s["Qs"] for s in m.values())
            and m[min(m)]["stellar_response"] < m[128]["stellar_response"]
        ),
    ),
)


def figure_claims(tables: dict) -> list[dict]:
    """Every claim of ``make figures`` on the summaries its notebooks wrote.

    Parameters
    ----------
    tables : dict
        ``primary``: ``{"whitened": summary, "topocentric": summary}`` (Figs. 5-6); ``velocity``,
        ``variational``, ``latent``: as in :data:`FIGURE_CLAIMS`. A missing key (its notebook was
        not run) leaves its claims undecided.

    Returns
    -------
    list of dict
        One per claim: ``figure``, ``claim`` (its text), ``holds`` (True, False, or None when
        undecided).
    """
    out = []
    p = tables.get("primary")
    for c in CLAIMS:
        held = bool(c.holds(p["whitened"], p["topocentric"])) if p else None
        out.append({"figure": "Figs. 5-7", "claim": c.text, "holds": held})
    for c in FIGURE_CLAIMS:
        m = tables.get(c.table)
        try:
            held = bool(c.holds(m)) if m else None
        except KeyError:  # the sweep lacks a point the claim needs (e.g. run with other velocities)
            held = None
        out.append({"figure": c.figure, "claim": c.text, "holds": held})
    return out
