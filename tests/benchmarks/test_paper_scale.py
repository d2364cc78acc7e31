"""benchmarks/paper_scale.py --smoke: the paper-scale command's whole path (torch survey, both
networks through train(), scores, claims, Figs. 5 and 7) at a tiny size on the CPU."""

from tests.helpers import load_script


def test_the_paper_scale_command_runs_at_a_tiny_size(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KARAOKE_FIGURES", str(tmp_path / "figures"))
    bench = load_script("benchmarks/paper_scale.py")
    assert (
        bench.main(
            ["--smoke", "--device", "cpu", "--work", str(tmp_path / "runs"), "--out", str(tmp_path / "paper_scale.csv")]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "survey generated" in out and "claims:" in out
    assert (tmp_path / "figures" / "paper-smoke_fig5.png").exists()
    assert (tmp_path / "figures" / "paper-smoke_fig7.png").exists()
    rows = (tmp_path / "paper_scale.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("network,Qt,Qs")
    assert (tmp_path / "runs" / "N30" / "model.pt").exists() and (tmp_path / "runs" / "N0" / "model.pt").exists()
