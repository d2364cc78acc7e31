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


def _sweep_tables(folder, *, qt_v5=0.6, qs_d8=0.9, ae_leak=0.3, velocities=(0, 5, 15, 30)):
    """Minimal tables as notebooks 03-06 write them (two held-out spectra a network)."""
    import csv

    def write(name, rows):
        with open(folder / name, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)

    def rows(col, values, metrics):
        out = []
        for v in values:
            m = metrics(v)
            for spec in (0, 1):  # medians of two equal spectra: the values themselves
                out.append(
                    {
                        "label": f"{col}{v}",
                        col: v,
                        "spectrum": spec,
                        "Qt": m[0],
                        "Qs": m[1],
                        "leakage": m[2],
                        "stellar_response": m[3],
                        "static_pattern": 0.05,
                    }
                )
        return out

    write(
        "table_primary_metrics.csv",
        [
            {
                "method": "VAE whitened",
                "truth": "exact",
                **dict(zip(["Qt", "Qs", "leakage", "stellar_response"], (0.3, 0.3, 0.1, 0.8))),
                "static_pattern": 0.05,
            },
            {
                "method": "VAE whitened",
                "truth": "pseudo",
                "Qt": 0.9,
                "Qs": 0.9,
                "leakage": 0.1,
                "stellar_response": 0.8,
                "static_pattern": 0.05,
            },
            {
                "method": "VAE topocentric",
                "truth": "exact",
                "Qt": 0.95,
                "Qs": 0.3,
                "leakage": 0.3,
                "stellar_response": 0.8,
                "static_pattern": 0.5,
            },
        ],
    )
    qt = {0: 0.95, 5: qt_v5, 15: 0.4, 30: 0.35}
    write(
        "table_fig7_whitening_sweep.csv",
        rows("velocity", [float(v) for v in velocities], lambda v: (qt[int(v)], 0.3, 0.1, 0.8)),
    )
    write(
        "table_fig8_ae_vs_vae.csv",
        rows("variational", [False, True], lambda var: (0.35, 0.3, 0.1, 0.8) if var else (0.6, 0.28, ae_leak, 0.8)),
    )
    write(
        "table_fig9_compression_sweep.csv",
        rows("latent_dim", [8, 32, 128, 512], lambda d: (0.4, qs_d8, 0.1, 0.3) if d == 8 else (0.35, 0.3, 0.1, 0.8)),
    )


def _held(folder):
    from karaoke.evaluation.claims import figure_claims
    from karaoke.evaluation.sweeps import figure_tables

    return [r["holds"] for r in figure_claims(figure_tables(folder))]


def test_figure_claims_read_the_tables_make_figures_writes(tmp_path):
    _sweep_tables(tmp_path)
    assert _held(tmp_path) == [True] * 8


def test_each_figure_claim_can_fail(tmp_path):
    _sweep_tables(tmp_path, qt_v5=0.99)  # Qt rises from N = 0 to 5
    assert _held(tmp_path)[4:] == [False, True, True, True]
    _sweep_tables(tmp_path, ae_leak=0.05)  # the AE leaks less than the VAE
    assert _held(tmp_path)[4:] == [True, True, False, True]
    _sweep_tables(tmp_path, qs_d8=0.2)  # the smallest latent keeps the stars best
    assert _held(tmp_path)[4:] == [True, True, True, False]


def test_a_missing_table_or_point_leaves_its_claims_undecided(tmp_path):
    _sweep_tables(tmp_path, velocities=(0, 15, 30))  # swept without N = 5
    (tmp_path / "table_fig8_ae_vs_vae.csv").unlink()
    assert _held(tmp_path) == [True] * 4 + [None, True, None, True]
    assert _held(tmp_path / "absent") == [None] * 8
