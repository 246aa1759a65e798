"""The notebook path of docs/usage.md#from-python: its example runs as printed, and what it
returns agrees with the command's own outputs."""

import csv
import math
import re
from pathlib import Path

import numpy as np

from simulations import compare, run

DOCS = Path(__file__).resolve().parents[1] / "docs" / "usage.md"


def _example() -> str:
    """The first python block of the page's "From Python" section."""
    section = DOCS.read_text().split("## From Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_documented_example_runs_and_matches_the_command(tmp_path, monkeypatch, capsys):
    """The example as printed; a second call reuses its runs; the command on the same store
    writes a results.csv with the same rows as `columns`."""
    monkeypatch.chdir(tmp_path)  # the example's store path is relative
    namespace: dict = {}
    exec(compile(_example(), str(DOCS), "exec"), namespace)  # noqa: S102 - our own docs
    result, cols = namespace["result"], namespace["cols"]
    assert len(result.records) == 4 and result.done == 4
    assert cols["m"].tolist() == [8.0, 16.0] and cols["sim_mean"].dtype == float
    assert "mean [95% CI]" in capsys.readouterr().out

    store = tmp_path / "results" / "mine.sqlite"
    again = run(compare.EXPERIMENT, namespace["config"], store=store, progress=False)
    assert (again.done, again.reused) == (0, 4) and again.table == result.table
    out = tmp_path / "out"
    assert compare.main(["quick", "--n", "8", "--m", "8", "16", "--instances", "2",
                         "--no-figures", "--no-progress", "--store", str(store),
                         "--out", str(out)]) == 0
    with open(out / "results.csv", newline="") as f:
        written = list(csv.DictReader(f))
    for name in ("m", "sim_mean", "pred_exact", "z_exact"):
        csv_values = [float(row[name]) if row[name] else math.nan for row in written]
        np.testing.assert_array_equal(cols[name], csv_values)


def test_config_refuses_unknown_overrides_and_presets():
    import pytest

    with pytest.raises(ValueError, match="unknown override"):
        compare.config("quick", widths=[8])
    with pytest.raises(ValueError, match="unknown preset"):
        compare.config("nonsense")
