"""Fixtures of the CLI tests."""

import pytest

from karaoke.cli import main


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A survey of 80 spectra on 1024 px and a network trained on it for one epoch (CLI)."""
    d = tmp_path_factory.mktemp("tiny")
    assert main(["synth", str(d / "s.npz"), "--n-spectra", "80", "--seed", "3", "--n-pixels", "1024", "--quiet"]) == 0
    assert (
        main(
            [
                "train",
                str(d / "s.npz"),
                "--out",
                str(d / "run"),
                "--latent",
                "8",
                "--epochs",
                "1",
                "--kl-weight",
                "0.03",
                "--quiet",
            ]
        )
        == 0
    )  # one plain run (the default would train the KL ladder)
    return d
