"""The preregistered replication program (simulations/replication.py).

The statistics are checked against independent references (a hand-worked Holm example,
scipy's paired t-test); the program is checked end to end on its smoke grid: records,
resume from the store (a store filled with the spec list of the replication's own runner
before it was declared on the protocol is reused run for run), the rounds, --no-run,
`compare --experiment replication`, the interim/final labels of the execution rule
(docs/preregistration-lam-lr.md) and the CSV behind the tables.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from simulations import replication as rep
from simulations._run import run_specs
from simulations._specs import canonical_key
from simulations._stats import holm, paired
from simulations.runner import command as _experiment_cli
from simulations.runner.cli import jsonable, run_cli
from simulations.runner.executors import RunSummary
from simulations.runner.store import ResultsStore


def test_holm_matches_a_hand_worked_example():
    # sorted p: 0.01 (x3) -> 0.03; 0.03 (x2) -> 0.06; 0.04 (x1) -> max(0.06, 0.04) = 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06], abs=1e-15)
    assert holm([0.5, 0.9]) == [1.0, 1.0]  # capped at 1
    adjusted = holm([0.02, math.nan, 0.01])
    assert math.isnan(adjusted[1]) and adjusted[0] == pytest.approx(0.02) \
        and adjusted[2] == pytest.approx(0.02)


def test_paired_t_matches_scipy():
    rng = np.random.default_rng(5)
    a, b = rng.integers(0, 9, 20), rng.integers(0, 9, 20)
    out = paired((a - b).astype(float))
    ref = stats.ttest_rel(a, b)
    assert out["t"] == pytest.approx(ref.statistic, rel=1e-12)
    assert out["p"] == pytest.approx(ref.pvalue, rel=1e-10)
    ci = ref.confidence_interval(0.95)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-12)


def test_paired_identical_differences():
    assert paired(np.zeros(5))["p"] == 1.0
    assert paired(np.ones(5))["p"] == 0.0
    assert math.isnan(paired(np.ones(1))["p"])


def test_preregistered_grid_is_the_registered_one():
    """The grid and seed of docs/preregistration-lam-lr.md (a change here needs a new page)."""
    g = rep.PREREGISTERED
    assert (g.n, g.m, g.lam, g.lr, g.instances, g.seed, g.tol) == (
        256, (512, 1024, 2048), (1e-3, 3e-3, 1e-2), (0.05, 0.0125), 32, 20261126, 1e-6)
    assert g.step_cap(1e-3, 0.05) == 300_000
    specs = g.specs(32)
    assert len(specs) == 18 and {s.optimizer for s in specs} == {"prox-gd"}
    # every cell of one m starts from the same W(0): the seed does not depend on lam or lr
    assert len({(s.seed, s.n, s.m) for s in specs}) == 3


def _old_spec_list(grid: rep.ReplicationGrid, instances: int) -> list:
    """The specs the replication's own runner gave `run_specs` before it was declared on
    the protocol: `grid.specs(upto, [lr])` per lr, the last round's (upto = instances)."""
    return [spec for lr in grid.lr for spec in grid.specs(instances, [lr])]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """Two instances of the smoke grid stored through `run_specs` with the old spec list,
    then the command: on instances 0-1 (everything reused), then on all four."""
    root = tmp_path_factory.mktemp("replication")
    store, out = root / "store.sqlite", root / "out"
    old = run_specs(_old_spec_list(rep.QUICK, 2), store=store, progress=False)
    assert (old.done, old.failed) == (2 * 12, 0)
    assert rep.main(["--quick", "--instances", "2", "--store", str(store), "--out", str(out),
                     "--json", "--no-figures", "--no-progress"]) == 0
    partial = json.loads((out / "report.json").read_text())
    assert rep.main(["--quick", "--store", str(store), "--out", str(out), "--json",
                     "--no-progress"]) == 0
    full = json.loads((out / "report.json").read_text())
    return store, out, partial, full


def test_a_store_of_the_old_runner_is_reused_run_for_run(smoke):
    """Store keys did not change: the runs `run_specs` stored from the old spec list are
    all reused (0 done), and only the missing instances 2-3 are computed."""
    _, _, partial, full = smoke
    assert partial["runs"] == {"done": 0, "reused": 2 * 12, "failed": 0}
    assert full["runs"] == {"done": 2 * 12, "reused": 2 * 12, "failed": 0}


def test_the_runs_are_the_specs_of_the_old_runner_in_rounds():
    """Same keys as `canonical_key` over the old spec list, on the registered grid; the
    order is lr = 0.05 first, then rounds of ROUND instances (`round_of`)."""
    grid = rep.PREREGISTERED
    config = rep.ReplicationConfig(grid, grid.instances)
    runs = rep.runs(config)
    old = {canonical_key(spec, i) for spec in _old_spec_list(grid, grid.instances)
           for i in range(grid.instances)}
    assert {r.key() for r in runs} == old and len(runs) == len(old) == 576
    rounds = [rep.round_of(r) for r in runs]
    assert rounds == sorted(rounds, key=lambda x: (-x[0], x[1]))  # lr 0.05 first
    assert [r.spec.lr for r in runs[:288]] == [0.05] * 288
    assert {r.instance for r in runs[:9 * rep.ROUND]} == set(range(rep.ROUND))


def test_each_round_is_one_sweep_stored_before_the_next(monkeypatch, tmp_path):
    """run_experiment calls run_all once per round, in order (so an interrupted sweep leaves
    whole rounds: complete pairs), and merges the summaries in the runs' order."""
    calls = []

    def fake_run_all(runs, *, store, fresh, is_current, runner, **options):
        calls.append([(r.spec.lr, r.instance) for r in runs])
        assert runner is rep.run_spec and is_current is rep.record_is_current
        records = tuple({"key": r.key()} for r in runs)
        return RunSummary(done=len(runs) - 1, reused=1, failed=0, records=records,
                          keys=tuple(r.key() for r in runs), wall_time=1.0)

    monkeypatch.setattr(_experiment_cli, "run_all", fake_run_all)
    config = rep.ReplicationConfig(rep.PREREGISTERED, 10)
    runs = rep.runs(config)
    args = argparse.Namespace(workers=1, scheduler=None, fresh=False, no_progress=True)
    summary = _experiment_cli._run_rounds(rep.EXPERIMENT, runs, store=None, args=args)
    blocks = [range(0, 4), range(4, 8), range(8, 10)]
    assert [sorted({i for _, i in call}) for call in calls] == [list(b) for b in blocks] * 2
    assert [{lr for lr, _ in call} for call in calls] == [{0.05}] * 3 + [{0.0125}] * 3
    assert all(len(call) == 9 * len(b) for call, b in zip(calls, blocks * 2, strict=True))
    assert summary.keys == tuple(r.key() for r in runs)
    assert (summary.done, summary.reused, summary.wall_time) == (len(runs) - 6, 6, 6.0)


def test_interim_and_final_labels(smoke):
    _, out, partial, full = smoke
    assert (out / "replication_counts.png").is_file() and full["registered"] is False
    assert full["provenance"]["smoke"] is True
    assert partial["records"] == 2 * 12 and not partial["h_lam_final"] \
        and not partial["h_lr_final"]
    assert full["records"] == 4 * 12 and full["h_lam_final"] and full["h_lr_final"]
    assert "INTERIM" not in (out / "report.md").read_text()


def test_no_run_reproduces_the_analysis_from_the_store(smoke, tmp_path, capsys):
    store, _, _, full = smoke
    assert rep.main(["--quick", "--no-run", "--store", str(store), "--out", str(tmp_path),
                     "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    for part in ("records", "h_lam", "h_lam_trend", "h_lr", "fidelity", "against_theory",
                 "lam_effect_small_lr"):
        assert again[part] == full[part], part
    assert again["runs"] == {"done": 0, "reused": 4 * 12, "failed": 0}
    assert again["store"] == full["store"] == str(store)


def test_compare_runs_the_replication_by_name(smoke, tmp_path, capsys):
    from simulations import compare

    store, _, _, full = smoke
    argv = ["--experiment", "replication", "--quick", "--no-run", "--store", str(store),
            "--out", str(tmp_path), "--json", "--no-figures"]
    assert compare.main(argv) == 0
    via_compare = json.loads(capsys.readouterr().out)
    assert via_compare["h_lr"] == full["h_lr"] and via_compare["runs"]["reused"] == 4 * 12
    assert via_compare["provenance"]["command"].startswith(
        "python -m simulations.compare --experiment replication")


def test_no_run_on_a_store_without_the_grid_fails_in_one_line(tmp_path, capsys):
    ResultsStore(tmp_path / "empty.sqlite").close()
    assert run_cli(rep.main, rep.PROG, ["--quick", "--no-run", "--store",
                                        str(tmp_path / "empty.sqlite"), "--out",
                                        str(tmp_path / "out")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "--no-run: the store" in line and "holds none of the runs" in line
    assert not (tmp_path / "out").exists()


def test_csv_has_one_row_per_run_with_the_final_assignment(smoke):
    _, out, _, full = smoke
    with open(out / "replication.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == full["records"]
    n = rep.QUICK.n
    for row in rows:
        neurons, signs = row["final_neuron"].split(), row["final_sign"].split()
        assert len(neurons) == len(signs) == n and set(signs) <= {"1", "-1"}
        assert len(row["final_digest"]) == 16


def test_fidelity_is_recomputable_from_the_csv(smoke):
    """The published CSV alone gives the fidelity column (the per-instance records rule)."""
    _, out, _, full = smoke
    with open(out / "replication.csv") as f:
        rows = list(csv.DictReader(f))
    by = {(r["m"], float(r["lam"]), float(r["lr"]), r["instance"]): r for r in rows}
    first = full["fidelity"][0]
    m, lam = str(first["m"]), first["lam"]
    same = []
    for i in range(rep.QUICK.instances):
        a, b = by[(m, lam, 0.05, str(i))], by[(m, lam, 0.0125, str(i))]
        same.append(np.mean([(x, y) == (u, v) for x, y, u, v in zip(
            a["final_neuron"].split(), a["final_sign"].split(),
            b["final_neuron"].split(), b["final_sign"].split(), strict=True)]))
    assert float(np.mean(same)) == pytest.approx(first["same_fraction"], abs=1e-12)


def test_bad_arguments_fail_in_one_line(tmp_path, capsys):
    assert run_cli(rep.main, rep.PROG, ["--instances", "40", "--out", str(tmp_path)]) == 2
    assert run_cli(rep.main, rep.PROG, ["--no-run", "--store", str(tmp_path / "none.sqlite"),
                                        "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("error:" in line for line in err)
    assert not (tmp_path / "none.sqlite").exists()


def test_read_csv_inverts_the_written_csv(smoke):
    """`read_csv` gives back what `analyse` reads, so the CSV alone redoes the analysis."""
    _, out, _, full = smoke
    analysis = rep.analyse(rep.QUICK, rep.read_csv(out / "replication.csv"))
    again = json.loads(json.dumps(jsonable(analysis)))  # as report.json holds it
    for part in ("records", "h_lam", "h_lam_trend", "h_lr", "fidelity"):
        assert again[part] == full[part], part


def test_read_csv_rejects_an_edited_assignment(smoke, tmp_path):
    _, out, _, _ = smoke
    lines = (out / "replication.csv").read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    col = header.index("final_sign")
    signs = row[col].split()
    signs[0] = str(-int(signs[0]))
    row[col] = " ".join(signs)
    (tmp_path / "edited.csv").write_text("\n".join([lines[0], ",".join(row)]) + "\n")
    with pytest.raises(ValueError, match="final_digest"):
        rep.read_csv(tmp_path / "edited.csv")


def test_the_published_h_lam_conclusion_follows_from_the_published_records():
    """docs/results.md item 4: H-lam rejected at every m (Holm, family-wise 0.05) with the
    published mean differences, recomputed from docs/data/replication-lam-lr.csv."""
    path = Path(__file__).resolve().parents[1] / "docs" / "data" / "replication-lam-lr.csv"
    records = rep.read_csv(path)
    with open(path, newline="") as f:  # read back as written (spawn keys up to 31 included)
        assert [{k: str(v) if v is not None else "" for k, v in rep.csv_row(r).items()}
                for r in records] == list(csv.DictReader(f))
    analysis = rep.analyse(rep.PREREGISTERED, records)
    assert analysis["h_lam_final"] and analysis["excluded"] == 0
    h_lam = analysis["h_lam"]
    assert [r["pairs"] for r in h_lam] == [32, 32, 32]
    assert [round(r["mean_diff"], 2) for r in h_lam] == [1.91, 1.50, 0.66]  # m = 512, 1024, 2048
    assert all(r["rejected"] for r in h_lam)
    # "6-11% of the count": d against the mean count at lam = 1e-3, lr = 0.05
    low = {r["m"]: r["mean"] for r in analysis["against_theory"]
           if r["lam"] == 1e-3 and r["lr"] == 0.05}
    assert [round(100 * r["mean_diff"] / low[r["m"]]) for r in h_lam] == [6, 11, 11]
    # Page's trend, two-sided (its direction came from the data): below 0.05 at m = 512
    # and 1024, not at m = 2048
    assert [float(f"{r['p_two_sided']:.2g}") for r in analysis["h_lam_trend"]] == \
        [0.012, 0.0018, 0.092]


def test_from_csv_reports_without_a_store(smoke, tmp_path, capsys):
    _, out, _, full = smoke
    assert rep.main(["--quick", "--from-csv", str(out / "replication.csv"), "--out",
                     str(tmp_path), "--json", "--no-figures"]) == 0
    # it writes back the CSV it read, byte for byte
    assert (tmp_path / "replication.csv").read_text() == (out / "replication.csv").read_text()
    again = json.loads(capsys.readouterr().out)
    assert again["csv"] == str(out / "replication.csv")
    assert "store" not in again and "runs" not in again
    assert again["h_lr"] == full["h_lr"]
    (tmp_path / "bad.csv").write_text("m,lam\n1,2\n")
    assert run_cli(rep.main, rep.PROG, ["--from-csv", str(tmp_path / "bad.csv"),
                                        "--out", str(tmp_path)]) == 2
    with pytest.raises(SystemExit) as stop:  # argparse: the two sources exclude each other
        rep.main(["--from-csv", str(tmp_path / "bad.csv"), "--no-run", "--out", str(tmp_path)])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "missing columns" in err[0] and "not allowed with" in err[-1] and len(err) == 2


def test_the_exploratory_lam_contrast_uses_the_small_step(smoke):
    """lam_effect_small_lr is H-lam's contrast on the lr = 0.0125 runs, by hand from the CSV."""
    _, out, _, full = smoke
    records = rep.read_csv(out / "replication.csv")
    g = rep.QUICK
    count = {(r["m"], r["lam"], r["lr"], r["instance"]): r["assignment_count"] for r in records}
    for row in full["lam_effect_small_lr"]:
        d = [count[(row["m"], g.lam[-1], g.lr[1], i)] - count[(row["m"], g.lam[0], g.lr[1], i)]
             for i in range(g.instances)]
        assert row["pairs"] == g.instances and row["mean_diff"] == pytest.approx(np.mean(d))


def test_figure_draws_the_paired_lr_row_once_pairs_exist(smoke):
    """Bottom row = H-lr (paired difference per lam); absent while no lr pair is stored."""
    import matplotlib.pyplot as plt

    from simulations._replication_figures import figure_counts

    _, out, _, _ = smoke
    records = rep.read_csv(out / "replication.csv")
    full = figure_counts(rep.analyse(rep.QUICK, records))
    only_first_lr = figure_counts(rep.analyse(rep.QUICK, [r for r in records
                                                          if r["lr"] == rep.QUICK.lr[0]]))
    assert len(full.axes) == 2 * len(rep.QUICK.m) and len(only_first_lr.axes) == len(rep.QUICK.m)
    # each bottom panel carries one errorbar point per lam, at the paired means
    bottom = full.axes[len(rep.QUICK.m):]
    assert all(len(ax.lines[-1].get_xdata()) == len(rep.QUICK.lam) for ax in bottom)
    plt.close("all")


def test_the_published_h_lr_conclusion_follows_from_the_published_records():
    """docs/results.md item 4: H-lr (lr 0.05 against 0.0125, 9 cells, Holm) and the
    fidelity, recomputed from docs/data/replication-lam-lr.csv (all 576 runs)."""
    path = Path(__file__).resolve().parents[1] / "docs" / "data" / "replication-lam-lr.csv"
    analysis = rep.analyse(rep.PREREGISTERED, rep.read_csv(path))
    assert analysis["h_lr_final"] and analysis["records"] == 576 and analysis["excluded"] == 0
    assert all(r["pairs"] == 32 for r in analysis["h_lr"])
    assert not any(r["rejected"] for r in analysis["h_lr"])
    # the closest cell, m = 1024, lam = 3e-3 (docs: Holm p 0.055)
    assert min(r["p_holm"] for r in analysis["h_lr"]) == pytest.approx(0.055, abs=5e-4)
    same = [r["same_fraction"] for r in analysis["fidelity"]]
    assert (round(100 * min(same), 1), round(100 * max(same), 1)) == (98.2, 99.8)  # docs
    # exploratory: the lam effect at lr 0.0125 (docs: +1.62, +1.59, +0.59)
    assert [round(r["mean_diff"], 2) for r in analysis["lam_effect_small_lr"]] == [1.62, 1.59, 0.59]
