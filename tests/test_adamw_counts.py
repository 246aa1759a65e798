"""docs/results.md, item 7 (AdamW at n = 64), recomputed from its per-instance records.

docs/data/adamw-n64.csv is written by
``python -m benchmarks._polysemanticity_counts --optimizer adamw --csv docs/data/adamw-n64.csv``
(one row per run: n = 64, m in {64, 256, 1024}, 20 seeds each, the paper's AdamW settings).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

PATH = Path(__file__).resolve().parents[1] / "docs" / "data" / "adamw-n64.csv"


def test_the_published_adamw_counts_follow_from_the_published_records():
    """Item 7: window / assignment means 12.85 / 13.55 at m = 64, 3.55 at m = 256, 0.70 at
    m = 1024; every run is the paper's AdamW (lr 1e-3, lam 1e-3, wd 0.01, 7500 steps)."""
    with open(PATH, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 60
    assert {(r["optimizer"], r["n"], r["lr"], r["lam"], r["weight_decay"], r["steps"])
            for r in rows} == {("adamw", "64", "0.001", "0.001", "0.01", "7500")}
    means = {}
    for m in (64, 256, 1024):
        runs = [r for r in rows if r["m"] == str(m)]
        assert sorted(int(r["instance"]) for r in runs) == list(range(20))
        means[m] = tuple(round(float(np.mean([int(r[k]) for r in runs])), 2)
                         for k in ("window_count", "assignment_count"))
    assert means[64] == (12.85, 13.55)
    assert means[256][0] == 3.55
    assert means[1024][0] == 0.70
