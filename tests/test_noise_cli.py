"""End-to-end tests of `python -m simulations.noise` (smoke mode, argument errors, outputs)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulations import noise as cli

REPO = Path(__file__).resolve().parents[1]


def _run(*args):
    return subprocess.run([sys.executable, "-m", "simulations.noise", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def test_help_exits_zero():
    proc = _run("--help")
    assert proc.returncode == 0
    assert "--quick" in proc.stdout and "--json" in proc.stdout and "--out" in proc.stdout


@pytest.mark.parametrize("args, needle", [
    (["--parts", "e3"], "--parts"),
    (["--max-steps", "0"], "--max-steps"),
    (["--instances", "1"], "--instances"),
    (["--bogus"], "unrecognized"),
])
def test_bad_arguments_give_one_line_and_status_2(args, needle, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err and err.startswith("python -m")


def test_quick_run_writes_json_and_figures(tmp_path, capsys):
    """The smoke run exercises every part and writes JSON plus PNG and PDF figures."""
    status = cli.main(["--quick", "--json", "--no-progress", "--out", str(tmp_path)])
    assert status == 0
    printed = json.loads(capsys.readouterr().out)
    s = printed["summary"]
    assert set(s["e2_final_mean_f4"]) == {f"{sh}@0.15" for sh in cli.NOISE_SHAPES}
    assert "phase_index_shared" in s and len(s["counts"]) == 1
    results = json.loads((tmp_path / "report.json").read_text())
    prov = results["provenance"]
    assert prov["config"]["seed"] == 13 and "numpy" in prov["versions"]
    for stem in ("noise_e2", "noise_kdraws", "noise_phase_shared", "noise_counts"):
        for ext in ("png", "pdf"):
            assert (tmp_path / f"{stem}.{ext}").stat().st_size > 0
    # every e2 run records the same step grid starting at 0 and its seeds
    runs = results["e2"]["runs"]
    assert all(r["record_steps"][0] == 0 and r["record_steps"] == runs[0]["record_steps"]
               for r in runs)
    assert all(r["init_seed"] == runs[0]["init_seed"] for r in runs)  # paired comparison


def test_same_seed_same_numbers(tmp_path):
    """Bit-identical results for the same seed (SeedSequence streams, no global RNG)."""
    from simulations.runner.protocol import evaluate

    cfg = cli.NoiseConfig(**{**cli.QUICK, "e2_shapes": ("bernoulli",), "parts": ("e2",)})
    a = evaluate(cli.EXPERIMENT, cfg)
    b = evaluate(cli.EXPERIMENT, cfg)
    assert a["e2"] == b["e2"]
