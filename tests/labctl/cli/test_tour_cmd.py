"""`labctl tour` against the embedded simulated station."""

from __future__ import annotations

import re

import pytest

from labctl.cli.main import main


def test_tour_reads_a_tile_and_reports_medians(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tour", "--sim", "--seed", "3", "--die", "die_04_02"]) == 0
    out = capsys.readouterr().out
    assert "196 x 100 cells" in out
    r_p = float(re.search(r"median R_P\s+=\s+([\d.]+) ohm", out).group(1))  # type: ignore[union-attr]
    r_ap = float(re.search(r"median R_AP\s+=\s+([\d.]+) ohm", out).group(1))  # type: ignore[union-attr]
    assert 2_000 < r_p < 10_000
    assert r_ap > 1.5 * r_p
    assert "safe state" in out


def test_tour_rejects_a_bad_die_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tour", "--sim", "--die", "die_3_0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("labctl: error: argument --die: not a die name")
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
