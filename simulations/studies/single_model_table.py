"""Fit and exploration table of docs/theory/tilted-occupancy.md (issue 19, item 1).

`python -m simulations.studies.single_model_table [--fit] [--markdown]`

Reads the exploration runs (docs/data/single_model_explore.csv, master seed 8 219 019)
and the published prox-gd records at lr 0.05 (the CSVs in PUBLISHED), pools instances per
(n, m, lam) within each source, and prints every point with the tilted model, the exact
sign-bin model and the cascade model beside it.

z of a model = (mean - E) / sqrt(SD^2 / k + SE_model^2): SD is the model's own SD (under
the model the k instances are i.i.d. with that SD), SE_model the model's own error of E
(theta's standard error through dE/dtheta for the tilted model, the Monte Carlo error for
the cascade model, 0 for the exact sign-bin model). `--fit` refits theta (weighted least
squares on the exploration points, weights k / SD^2 at the current theta, iterated).
"""

from __future__ import annotations

import argparse
import csv
import functools
import math
from collections import defaultdict
from pathlib import Path

from scipy.optimize import brentq, minimize_scalar

from theory import tilted_occupancy as tilted
from theory.cascades import cascade_moments
from theory.collisions import expected_poly_exact, sd_poly_exact

DATA = Path("docs/data")
EXPLORE = "single_model_explore"
# published prox-gd records (lr 0.05 rows only): source -> master seed, as the docs name it
PUBLISHED = {
    "cascades_small": "1100", "cascades_lam": "1600", "cascades_fate_explore": "1700",
    "cascades_confirm": "7000001", "cascades_confirm2": "7000002", "fate_confirm": "7000003",
    "best_model_confirm": "7000004", "best_model_confirm2": "7000005",
    "cascades_lam_large": "1601", "lam_n64_confirm": "lam-n64", "fast_sparsification_confirm":
    "fast-sparsification", "replication-lam-lr": "20261126",
}


def points(sources) -> list[dict]:
    pts: dict = defaultdict(list)
    for src in sources:
        with (DATA / f"{src}.csv").open() as fh:
            for r in csv.DictReader(fh):
                if r.get("lr", "0.05") != "0.05":
                    continue
                c = r.get("count") or r.get("final") or r.get("window_count")
                key = (src, int(r.get("n", 256)), int(r["m"]), float(r.get("lam", 0.01)))
                pts[key].append(int(c))
    out = []
    for (src, n, m, lam), x in sorted(pts.items(), key=lambda kv: kv[0][1:] + (kv[0][0],)):
        k = len(x)
        mean = sum(x) / k
        sd = math.sqrt(sum((a - mean) ** 2 for a in x) / (k - 1)) if k > 1 else float("nan")
        out.append({"src": src, "n": n, "m": m, "lam": lam, "k": k, "mean": mean, "sd": sd,
                    "se": sd / math.sqrt(k)})
    return out


def fit_theta(pts: list[dict]) -> tuple[float, float, float, int]:
    """theta minimising sum k (mean - E)^2 / SD_model^2 over the points; its standard error
    from the curvature, inflated by sqrt(chi2/dof) when chi2/dof > 1."""
    def chi2(theta):
        s = 0.0
        for p in pts:
            mo = tilted.tilted_model(p["n"], p["m"], p["lam"], theta)
            s += p["k"] * (p["mean"] - mo["mean"]) ** 2 / mo["sd"] ** 2
        return s
    res = minimize_scalar(chi2, bounds=(-0.2, 0.3), method="bounded",
                          options={"xatol": 1e-6})
    th = float(res.x)
    info = 0.0
    for p in pts:
        mo = tilted.tilted_model(p["n"], p["m"], p["lam"], th)
        dE = mo["dmean_dlogw"] * mo["log_w"] / th
        info += p["k"] * dE**2 / mo["sd"] ** 2
    dof = len(pts) - 1
    c2 = float(res.fun)
    se = math.sqrt(1 / info) * math.sqrt(max(1.0, c2 / dof))
    return th, se, c2, dof


def measured_log_w(n: int, m: int, mean: float) -> float:
    """The tilt ln w at which the tilted law's mean equals `mean` (the measured tilt map;
    NaN outside the range the law can reach)."""
    try:
        return brentq(lambda lw: tilted.tilted_moments(n, m, lw)["mean"] - mean, -12, 12)
    except ValueError:
        return float("nan")


@functools.cache
def _cascade(n: int, m: int) -> dict:
    """cascade_moments(n, m) (fixed seed, so deterministic), once per (n, m) and process."""
    return cascade_moments(n, m)


def row(p: dict, with_cascade: bool = True) -> dict:
    n, m, lam, k = p["n"], p["m"], p["lam"], p["k"]
    mo = tilted.tilted_model(n, m, lam)
    z = (p["mean"] - mo["mean"]) / math.sqrt(mo["sd"] ** 2 / k + mo["se_mean_theta"] ** 2)
    sb, sbsd = float(expected_poly_exact(n, m)), float(sd_poly_exact(n, m))
    out = {**p, "ratio": m / n, "model": mo["mean"], "model_sd": mo["sd"],
           "model_se": mo["se_mean_theta"], "log_w": mo["log_w"], "z": z,
           "signbin": sb, "z_signbin": (p["mean"] - sb) / (sbsd / math.sqrt(k))}
    if with_cascade:
        c = _cascade(n, m)
        out["cascade"] = c["mean"]
        out["z_cascade"] = (p["mean"] - c["mean"]) / math.sqrt(c["sd"] ** 2 / k + c["se_mean"] ** 2)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m simulations.studies.single_model_table")
    ap.add_argument("--fit", action="store_true")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--no-published", action="store_true")
    ap.add_argument("--predict-grid", action="store_true",
                    help="print the model at the confirmation grid of issue 19 item 2")
    ap.add_argument("--lam-effect", action="store_true",
                    help="mean(1e-2) / mean(1e-3) per source and (n, m), against the model")
    ap.add_argument("--tilt-map", action="store_true",
                    help="print the measured ln w per point with +-1 SE of the mean")
    a = ap.parse_args(argv)
    explore = points([EXPLORE])
    if a.fit:
        th, se, c2, dof = fit_theta(explore)
        print(f"theta = {th:.5f} +- {se:.5f} (chi2 {c2:.1f} on {dof} dof)")
        tilted.THETA, tilted.THETA_SE = th, se
    if a.predict_grid:
        print("| n | m/n | m | lam | E | SD | SE_theta | ln w |")
        print("|" + "---|" * 8)
        for n in (64, 128, 256, 384):
            for ratio in (1, 1.25, 1.5, 2, 3, 4, 8):
                for lam in (1e-3, 1e-2):
                    m = round(ratio * n)
                    mo = tilted.tilted_model(n, m, lam)
                    print(f"| {n} | {ratio:g} | {m} | {lam:g} | {mo['mean']:.2f} | "
                          f"{mo['sd']:.2f} | {mo['se_mean_theta']:.2f} | {mo['log_w']:+.3f} |",
                          flush=True)
        return
    pts = explore + ([] if a.no_published else points(PUBLISHED))
    if a.lam_effect:
        by = {(p["src"], p["n"], p["m"], p["lam"]): p for p in pts}
        print("| source | n | m/n | k | mean 1e-3 | mean 1e-2 | ratio - 1 (± SE) |"
              " model ratio - 1 |")
        print("|" + "---|" * 8)
        for (src, n, m, lam), hi in by.items():
            lo = by.get((src, n, m, 1e-3))
            if lam != 1e-2 or lo is None:
                continue
            r = hi["mean"] / lo["mean"]
            se = r * math.sqrt((hi["se"] / hi["mean"]) ** 2 + (lo["se"] / lo["mean"]) ** 2)
            mr = tilted.expected_poly_tilted(n, m, 1e-2) / tilted.expected_poly_tilted(n, m, 1e-3)
            name = "explore" if src == EXPLORE else src
            print(f"| {name} | {n} | {m / n:g} | {hi['k']} | {lo['mean']:.2f} | {hi['mean']:.2f} | "
                  f"{100 * (r - 1):+.1f}% ± {100 * se:.1f}% | {100 * (mr - 1):+.1f}% |")
        return
    if a.tilt_map:
        print("| source | n | m/n | lam | k | measured ln w [mean - SE, mean + SE] | model ln w |")
        print("|" + "---|" * 7)
        for p in pts:
            lw = [measured_log_w(p["n"], p["m"], p["mean"] + d * p["se"]) for d in (0, -1, 1)]
            src = "explore" if p["src"] == EXPLORE else p["src"]
            print(f"| {src} | {p['n']} | {p['m'] / p['n']:g} | {p['lam']:g} | {p['k']} | "
                  f"{lw[0]:+.2f} [{lw[1]:+.2f}, {lw[2]:+.2f}] | "
                  f"{tilted.log_tilt(p['m'], p['lam']):+.2f} |", flush=True)
        return
    hdr = ("| source | n | m/n | lam | k | sim mean ± SE | tilted E (SD) | z | sign-bin E | z |"
           " cascade E | z |")
    print(hdr)
    print("|" + "---|" * 12)
    for p in pts:
        r = row(p)
        src = "explore" if r["src"] == EXPLORE else r["src"]
        print(f"| {src} | {r['n']} | {r['ratio']:g} | {r['lam']:g} | {r['k']} | "
              f"{r['mean']:.2f} ± {r['se']:.2f} | {r['model']:.2f} ({r['model_sd']:.2f}) | "
              f"{r['z']:+.1f} | {r['signbin']:.2f} | {r['z_signbin']:+.1f} | "
              f"{r['cascade']:.2f} | {r['z_cascade']:+.1f} |", flush=True)


if __name__ == "__main__":
    main()
