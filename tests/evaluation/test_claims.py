"""The claim thresholds themselves (karaoke.evaluation.claims)."""
from karaoke.evaluation.claims import CLAIMS, check_claims

PAPER_LIKE = {"Qt": 0.3, "Qs": 0.3, "stellar_response": 0.8, "static_pattern": 0.1}
TOPO = {"Qt": 1.0, "Qs": 0.4, "stellar_response": 0.75, "static_pattern": 0.6}


def test_a_working_method_meets_every_claim():
    assert check_claims(PAPER_LIKE, TOPO) == {c.name: True for c in CLAIMS}


def test_each_claim_fails_on_its_own_defect():
    assert not check_claims({**PAPER_LIKE, "Qt": 0.6}, TOPO)["qt_halved"]
    assert not check_claims(PAPER_LIKE, {**TOPO, "stellar_response": 0.1})["stellar_followed"]
    assert not check_claims({**PAPER_LIKE, "static_pattern": 0.5}, TOPO)["static_removed"]
    assert not check_claims({**PAPER_LIKE, "Qs": 0.5}, TOPO)["stars_reconstructed"]
