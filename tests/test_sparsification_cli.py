"""End-to-end tests of `python -m simulations.sparsification` (E1 reproduction CLI)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from simulations import sparsification as cli

REPO = Path(__file__).resolve().parents[1]


def test_help_exits_zero():
    proc = subprocess.run([sys.executable, "-m", "simulations.sparsification", "--help"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0
    for flag in ("--m", "--lam-normalized", "--json", "--methods", "--out", "--seed"):
        assert flag in proc.stdout


@pytest.mark.parametrize("args, needle", [
    (["--m", "1"], "--m"),
    (["--m", "2.5"], "--m"),
    (["--m", "abc"], "--m"),
    (["--lam-normalized", "0"], "--lam-normalized"),
    (["--lam-normalized", "0.5"], "--lam-normalized"),
    # the old flag meant lam~ while --lam elsewhere is code units: refused, never rescaled
    (["--lam", "1e-5"], "--lam was renamed --lam-normalized"),
    (["--lam"], "divided by 4"),
    (["--methods", "rk4"], "--methods"),
    (["--m", "1e6", "--methods", "ode"], "ode needs m"),
    (["--dt", "2"], "--dt"),
    (["--t-max", "-3"], "--t-max"),
    (["--n-times", "1"], "--n-times"),
])
def test_bad_arguments_give_one_line_and_status_2(args, needle, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err and err.startswith("python -m")


def _small(tmp_path, *extra):
    return ["--m", "3000", "--lam-normalized", "1e-3", "--n-times", "30", "--n-draws", "20",
            "--no-progress", "--out", str(tmp_path), *extra]


def test_json_run_writes_outputs_and_has_the_issue_keys(tmp_path, capsys):
    status = cli.main(_small(tmp_path, "--json", "--methods", "exact,ode,euler",
                             "--dt", "0.1"))
    assert status == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("params", "seed", "t", "m_prime", "l1", "t_full"):
        assert key in out
    assert out["params"]["m"] == 3000 and out["params"]["lam_normalized"] == 1e-3
    assert len(out["t"]) == len(out["m_prime"]) == len(out["l1"])
    assert out["m_prime"][0] == 3000 and out["m_prime"][-1] == 1
    assert math.isfinite(out["t_full"]) and out["t_full"] > 0
    assert len(out["table"]) == 5
    assert "numpy" in out["provenance"]["versions"]
    stems = {Path(p).suffix for p in out["written"]}
    assert stems == {".csv", ".json", ".png", ".pdf"}
    for p in out["written"]:
        assert Path(p).stat().st_size > 0


def test_same_seed_same_numbers(tmp_path, capsys):
    cli.main(_small(tmp_path / "a", "--json", "--no-figures", "--seed", "3"))
    a = json.loads(capsys.readouterr().out)
    cli.main(_small(tmp_path / "b", "--json", "--no-figures", "--seed", "3"))
    b = json.loads(capsys.readouterr().out)
    assert a["m_prime"] == b["m_prime"] and a["l1"] == b["l1"] and a["t_full"] == b["t_full"]


def test_text_output_has_the_ratio_table(tmp_path, capsys):
    assert cli.main(_small(tmp_path, "--no-figures")) == 0
    text = capsys.readouterr().out
    assert "m/paper" in text and "t_full: simulated" in text
