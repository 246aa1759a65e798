"""The paper at its own settings (simulations.paper_settings): the plan, the preregistered
analysis and the published records, on constructed records (no training).

The constructed counts are chosen so that each decision of docs/preregistration-e5-adamw.md
(the float32 gate, H-E5 with Holm, A1, A2, exclusions) is on a known side.
"""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from simulations import paper_settings as P
from simulations._specs import canonical_key
from simulations.runner.executors import stored_runs
from simulations.runner.store import ResultsStore
from simulations.runner.transfer import export_runs, import_runs

N = 256
DATA = Path(__file__).resolve().parents[1] / "docs" / "data"


@pytest.fixture(autouse=True)
def _no_cascade_monte_carlo(monkeypatch):
    """The theory columns are tested with the theory; these tests are about the decisions,
    so the best model's Monte Carlo (seconds per m) is replaced by fixed moments."""
    monkeypatch.setattr(P, "_models", lambda n, m, lam: {
        "sign_bin": (n * n / (4 * m), 1.0, 0.0, "sign-bin"),
        "best": (n * n / (4 * m), 1.0, 0.0, "sign-bin")})


SPECS = {(s.optimizer, s.dtype, s.m, s.lam): s for name in P.STAGES for s in P.stage_specs(name)}


def _record(optimizer, dtype, m, lam, instance, count, status=None, represented=N):
    rng = np.random.default_rng([m, instance, int(lam * 1e6), dtype == "float32"])
    spec = SPECS[optimizer, dtype, m, lam]
    return {**{k: v for k, v in spec.to_dict().items() if k != "instances"},
            "key": canonical_key(spec, instance), "instance": instance,
            "window_count": count, "assignment_count": count,
            "train_steps": spec.max_steps, "features_represented": represented,
            "train_status": status or ("max_steps" if optimizer == "adamw" else "converged"),
            "init_final_diag": rng.normal(0.05, 0.01, N).tolist(), "cpu_time": 10.0,
            "final_neuron": rng.integers(0, m, N).tolist(),
            "final_sign": rng.choice([-1, 1], N).tolist()}


def _plan(count=lambda opt, dt, m, lam, i: int(N * N / (4 * m)) + i % 3):
    """One record per run of the plan's adamw/flow cells at the E5 and check widths."""
    bits = {"float32": 32, "float64": 64}
    cells = [("adamw", P.DTYPE, m, lam) for m in P.E5_M for lam in (1e-3, 1e-2, 1e-1)]
    cells += [("prox-gd", "float64", m, 1e-3) for m in P.E5_M]
    # the check's other dtype (its P.DTYPE runs are E5's lam 1e-3 runs)
    cells += [("adamw", dt, m, 1e-3) for m in P.CHECK_M for dt in bits if dt != P.DTYPE]
    return [_record(opt, dt, m, lam, i, count(opt, bits[dt], m, lam, i))
            for i in range(P.INSTANCES) for opt, dt, m, lam in cells]


def test_the_plan_is_the_preregistered_grid():
    """Stages, seed, widths and instances as fixed in the preregistration; E5's lam 1e-3
    runs are E3's (same keys), and every stage at one m shares W(0) (same seed)."""
    e3, e5 = P.stage_specs("e3"), P.stage_specs("e5")
    assert {s.m for s in e3} == set(range(256, 4097, 256)) and {s.m for s in e5} == set(P.E5_M)
    assert {s.lam for s in e5} == {1e-3, 1e-2, 1e-1} and {s.lam for s in e3} == {1e-3}
    every = [s for name in P.STAGES for s in P.stage_specs(name)]
    assert {s.seed for s in every} == {7_000_009} and {s.instances for s in every} == {16}
    shared = {canonical_key(s, 0) for s in e5 if s.lam == 1e-3}
    assert shared <= {canonical_key(s, 0) for s in e3}
    adamw = [s for s in e3 + e5]
    assert {(s.optimizer, s.lr, s.weight_decay, s.max_steps, s.dtype) for s in adamw} == {
        ("adamw", 1e-3, 0.01, 7500, P.DTYPE)}
    flow = P.stage_specs("flow")
    assert {(s.optimizer, s.lr, s.tol) for s in flow} == {("prox-gd", 0.05, 1e-6)}
    # the plan: every run once, stage by stage, in rounds of ROUND instances of every spec
    runs = P.plan()
    assert len(runs) == len({r.key() for r in runs}) == len(
        {canonical_key(s, i) for s in every for i in range(s.instances)})
    e5_rounds = [(r.round, r.instance) for r in runs if r.stage == "e5"]
    assert [k for k, _ in e5_rounds] == sorted(k for k, _ in e5_rounds)
    assert all((k - 1) * P.ROUND <= i < k * P.ROUND for k, i in e5_rounds)


def test_float32_gate_follows_the_preregistered_rule():
    """Equal counts at every pair pass; a shift of one neuron in every pair (CI far outside
    +-0.5) fails; a missing pair means the gate is not decided (fails)."""
    equal = P.analyse(_plan())["float32_check"]
    assert all(r["holds"] and r["equal"] == 16 for r in equal)
    shifted = P.analyse(_plan(lambda o, dt, m, lam, i: 10 + (dt == 32) + i % 3))
    assert not any(r["holds"] for r in shifted["float32_check"])
    missing = [r for r in _plan() if not (r["dtype"] == "float64" and r["instance"] == 0)]
    assert not any(r["holds"] for r in P.analyse(missing)["float32_check"])


def test_the_run_dtype_is_the_published_gates_verdict():
    """E3 and E5 run in float32 only if the float32 check on the published runs
    (docs/data/paper-e3.csv) holds at every check width; it failed at m = 256."""
    check = P.analyse(P.read_csvs(DATA))["float32_check"]
    assert {r["pairs"] for r in check} == {P.INSTANCES}
    assert P.DTYPE == ("float32" if all(r["holds"] for r in check) else "float64")


def test_h_e5_rejects_a_real_effect_only_where_it_is():
    """A +3 shift at lam 0.1, m = 512 in every pair (with spread) is rejected after Holm;
    identical counts elsewhere are not; the label is final only with every pair."""
    def count(o, dt, m, lam, i):
        return int(N * N / (4 * m)) + i % 3 + (3 + i % 2 if (m, lam) == (512, 1e-1) else 0)

    e5 = P.analyse(_plan(count))["e5"]
    rejected = {(t["m"], t["lam"]) for t in e5["tests"] if t["rejected"]}
    assert rejected == {(512, 1e-1)} and e5["final"]
    assert not P.analyse(_plan(count)[1:])["e5"]["final"]


def test_agreement_criteria_a1_a2():
    """A1 needs lam 0.1 below lam 1e-3 at m = 256 inside the figure's ranges; A2 needs the
    curves within 20% at m >= 1024 and no rejection there."""
    def paper_like(o, dt, m, lam, i):
        base = {256: 70, 512: 24, 1024: 10, 2048: 5, 4096: 4}[m] + i % 3
        return base - 17 if (m, lam) == (256, 1e-1) else base

    e5 = P.analyse(_plan(paper_like))["e5"]
    assert e5["A1"] and e5["A2"]
    flat = P.analyse(_plan())["e5"]  # lam 0.1 not lower at m = 256
    assert not flat["A1"]


def test_exclusions_are_reported_and_pairs_dropped():
    plan = _plan()
    plan[0] = {**plan[0], "train_status": "diverged", "window_count": None}
    plan[1] = {**plan[1], "features_represented": N - 1}
    a = P.analyse(plan)
    assert sorted(x["reason"] for x in a["excluded"]) == [
        "diverged or not converged", "fewer than n features represented"]
    assert a["e5"]["tests"][0]["pairs"] == P.INSTANCES - 1


def _write_csvs(folder: Path, records) -> None:
    """The published CSVs of `records`, as the command writes them."""
    from simulations.runner.protocol import write_results

    folder.mkdir(exist_ok=True)
    write_results(folder, {}, P._record_tables(P.PaperSettingsConfig(), records))


def test_published_csvs_reanalyse_to_the_same_tables(tmp_path):
    """The three CSVs re-read give the store's analysis exactly; an edited assignment is
    refused by its digest."""
    records = _plan()
    _write_csvs(tmp_path, records)
    assert P.format_report(P.analyse(P.read_csvs(tmp_path))) == \
        P.format_report(P.analyse(records))
    path = tmp_path / "paper-e5.csv"
    lines = path.read_text().splitlines()
    head, row = lines[0].split(","), lines[1].split(",")
    col = head.index("final_neuron")
    row[col] = row[col].replace(row[col].split(" ")[0], str(int(row[col].split(" ")[0]) + 1), 1)
    path.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    with pytest.raises(ValueError, match="final_digest"):
        P.read_csvs(tmp_path)


def _stored_report(store) -> str:
    return P.format_report(P.analyse(list(stored_runs(P.plan(), store).records)))


def test_export_import_moves_the_job_and_refuses_foreign_records(tmp_path):
    """Exported runs import into an empty store once (a second import adds nothing) and
    analyse the same; a record whose fields do not match its key, or a key outside the
    plan, is refused and nothing is stored."""
    records = _plan()[:40]
    with ResultsStore(tmp_path / "a.sqlite") as a:
        for r in records:
            a.put(r["key"], r)
        assert export_runs(a, P.plan(), tmp_path / "runs.jsonl.gz") == 40
        before = _stored_report(a)
    with ResultsStore(tmp_path / "b.sqlite") as b:
        assert import_runs(b, P.plan(), tmp_path / "runs.jsonl.gz") == 40
        assert import_runs(b, P.plan(), tmp_path / "runs.jsonl.gz") == 0
        assert _stored_report(b) == before
    good = {"key": records[1]["key"], "record": records[1]}
    for bad, message in [({"key": records[0]["key"], "record": {**records[0], "lam": 0.5}},
                          "does not match"),
                         ({"key": "0" * 64, "record": records[0]}, "not a stored run")]:
        with gzip.open(tmp_path / "bad.jsonl.gz", "wt") as f:
            f.write(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
        with ResultsStore(tmp_path / "c.sqlite") as c:
            with pytest.raises(ValueError, match=message):
                import_runs(c, P.plan(), tmp_path / "bad.jsonl.gz")
            assert len(c) == 0


def test_e4_reconstruction_is_exact_for_one_hot_final_rows():
    """E4's matrix is rebuilt from W(0) (re-drawn from the seed) and each feature's final
    (neuron, sign): for a W(T) whose rows are exactly s_j e_{k_j} it equals W(0) W(T)^T."""
    from dynamics import init_weights
    from simulations._specs import instance_seed

    spec = SPECS["adamw", P.DTYPE, P.E4_M, 1e-3]
    W0 = init_weights(N, P.E4_M, [instance_seed(spec, 3)])[0]
    rng = np.random.default_rng(1)
    k, s = rng.integers(0, P.E4_M, N), rng.choice([-1, 1], N)
    WT = np.zeros((N, P.E4_M))
    WT[np.arange(N), k] = s
    record = {"optimizer": "adamw", "dtype": P.DTYPE, "m": P.E4_M, "lam": 1e-3,
              "instance": 3, "final_neuron": k.tolist(), "final_sign": s.tolist(),
              "init_final_diag_mean": float(np.mean(np.diag(W0 @ WT.T)))}
    e4 = P.e4_reconstruction([record])
    np.testing.assert_array_equal(e4["matrix"], W0 @ WT.T)
    assert e4["diagonal_mean"] == pytest.approx(e4["diagonal_mean_exact"], rel=1e-12)


def test_command_redoes_the_tables_from_the_published_csvs(tmp_path, capsys):
    """`--from-csv FOLDER` needs no store: it re-reads the CSVs and writes the report, its
    JSON and the E3 and E4 figures; the printed tables equal the analysis of the records."""
    records = _plan()
    _write_csvs(tmp_path, records)
    out = tmp_path / "out"
    assert P.main(["--from-csv", str(tmp_path), "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {
        "report.md", "report.json",
        *(f"{name}.{ext}" for name in ("e3_paper_settings", "e4_paper_settings")
          for ext in ("png", "pdf"))}
    assert P.format_report(P.analyse(records)) in capsys.readouterr().out
    assert P.main(["--from-csv", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_a_store_that_is_an_output_is_refused_before_anything(tmp_path, capsys):
    """--store inside --out under an output's name would be overwritten by the report."""
    out = tmp_path / "out"
    out.mkdir()
    store = out / "report.json"
    assert P.main(["--stage", "flow", "--store", str(store), "--out", str(out)]) == 2
    assert "is an output file" in capsys.readouterr().err and not store.exists()


def test_the_command_moves_runs_between_stores(tmp_path, capsys):
    """--export-runs then --import-runs through the command: the new store analyses the
    same; moving runs while reading the CSVs (no store) is refused."""
    with ResultsStore(tmp_path / "a.sqlite") as a:
        for r in _plan()[:40]:
            a.put(r["key"], r)
    runs = tmp_path / "runs.jsonl.gz"
    args = ["--no-run", "--no-figures", "--out", str(tmp_path / "out")]
    assert P.main([*args, "--store", str(tmp_path / "a.sqlite"), "--export-runs", str(runs)]) == 0
    before = capsys.readouterr().out.split("wrote:")[0]
    assert P.main([*args, "--store", str(tmp_path / "b.sqlite"), "--import-runs", str(runs)]) == 0
    assert capsys.readouterr().out.split("wrote:")[0] == before
    _write_csvs(tmp_path / "csv", _plan())
    assert P.main(["--from-csv", str(tmp_path / "csv"), "--import-runs", str(runs)]) == 2
    assert "opens no store" in capsys.readouterr().err


def test_the_published_job_file_imports_into_the_plan(tmp_path):
    """docs/data/paper-settings-runs.jsonl.gz, the job's runs so far, is a file of this
    plan: every line imports (a changed key or record format would refuse it)."""
    path = DATA / "paper-settings-runs.jsonl.gz"
    with gzip.open(path, "rt") as f:
        lines = sum(1 for _ in f)
    with ResultsStore(tmp_path / "s.sqlite") as store:
        assert import_runs(store, P.plan(), path) == lines > 0


def test_quick_is_refused_in_one_line(capsys):
    """There is no small version of the paper's settings: --quick is a usage error naming
    the command that smoke-tests the same pipeline, before any store is opened."""
    with pytest.raises(SystemExit) as stop:
        P.main(["--quick"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "--quick" in err and "simulations.compare --quick" in err and len(err.splitlines()) <= 2
