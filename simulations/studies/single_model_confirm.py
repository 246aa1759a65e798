"""The analysis of docs/preregistration-single-model.md, fixed before its data.

`python -m simulations.studies.single_model_confirm CSV [--no-cascade]`

CSV is the cascade-check study's per-run CSV of the registered grid (master seed
9 000 019; published as docs/data/single_model_confirm.csv). Per (n, m, lam): the mean
count over the converged runs (a point with fewer than MIN_RUNS is missing), its sample
SD and 95% t-interval, and z of the primary model (tilted, eq. T3 with T7), of D6
(tilt_candidates, theta fixed at registration), of the exact sign-bin model and of the
cascade model, each z = (mean - E) / sqrt(SD^2 / k + SE_E^2) with the model's own SD;
the measured tilt ln w that matches the mean. Then H-single (every |z| <= 2), C1 (at most
MAX_MISSES misses) and C2 (every |z| <= Z_BONFERRONI) for the primary model and, beside
it, for D6; and the paired lam effect per (n, m) against the models' differences.
"""

from __future__ import annotations

import argparse
import csv
import math
from collections import defaultdict

import numpy as np

from simulations._stats import paired, t_interval
from simulations.studies import single_model_table as table
from simulations.studies import tilt_candidates
from theory import best_model, cascades
from theory import tilted_occupancy as tilted

# Fixed in the preregistration (#hypothesis, #analysis-fixed-now).
MIN_RUNS = 12
MAX_MISSES = 5
Z_BONFERRONI = 3.38
# D6's constant as registered (#secondary-model-d6-descriptive-does-not-qualify).
D6_THETA, D6_THETA_SE = 0.05230, 0.00401


def read(path: str) -> dict[tuple[int, int, float], dict[int, int]]:
    """(n, m, lam) -> {instance: count} over the converged runs of a cascade-check CSV."""
    points: dict = defaultdict(dict)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            if int(row["converged"]):
                key = (int(row["n"]), int(row["m"]), float(row.get("lam") or 1e-2))
                points[key][int(row["instance"])] = int(row["count"])
    return points


def _z(mean: float, k: int, model_mean: float, model_sd: float, se: float) -> float:
    return (mean - model_mean) / math.sqrt(model_sd**2 / k + se**2)


def d6(n: int, m: int, lam: float, mean: float, k: int) -> dict:
    """D6 at (n, m, lam) with its registered constant: E, SD, SE_E and z."""
    law = tilt_candidates.CANDIDATES["D6"][0]
    cov = np.array([[D6_THETA_SE**2]])
    return tilt_candidates.predict(law, np.array([D6_THETA]), cov,
                                   {"n": n, "m": m, "lam": lam, "mean": mean, "k": k})


def point(n: int, m: int, lam: float, counts: list[int], cascade: bool = True) -> dict:
    """Every number of one grid point (analysis steps 2 and 3)."""
    x = np.asarray(counts, float)
    k = x.size
    mean, low, high = t_interval(x)
    row = table.row({"src": "confirm", "n": n, "m": m, "lam": lam, "k": k, "mean": mean,
                     "sd": float(x.std(ddof=1)), "se": float(x.std(ddof=1)) / math.sqrt(k)},
                    with_cascade=cascade)
    second = d6(n, m, lam, mean, k)
    return {"n": n, "m": m, "lam": lam, "k": k, "mean": mean, "ci_low": low, "ci_high": high,
            "sd": row["sd"], "tilted": row["model"], "z_tilted": row["z"],
            "d6": second["mean"], "z_d6": second["z"],
            "signbin": row["signbin"], "z_signbin": row["z_signbin"],
            "cascade": row.get("cascade", math.nan), "z_cascade": row.get("z_cascade", math.nan),
            "measured_log_w": table.measured_log_w(n, m, mean),
            "model_log_w": tilted.log_tilt(m, lam)}


def verdict(rows: list[dict], z: str) -> dict:
    """H-single, C1 and C2 on column `z` of the analysed points."""
    zs = [r[z] for r in rows]
    misses = sum(abs(v) > 2 for v in zs)
    return {"points": len(zs), "misses": misses, "H_single": misses == 0,
            "C1": misses <= MAX_MISSES, "C2": all(abs(v) <= Z_BONFERRONI for v in zs),
            "max_abs_z": max(map(abs, zs), default=math.nan)}


def c2_points(rows: list[dict]) -> frozenset[tuple[int, float, float]]:
    """(n, m/n, lam) of the points where the primary model passes C2: the set the
    adoption rule reads (theory.best_model.TILTED_CONFIRMED;
    docs/preregistration-single-model.md#adoption)."""
    return frozenset((r["n"], round(r["m"] / r["n"], 4), r["lam"]) for r in rows
                     if abs(r["z_tilted"]) <= Z_BONFERRONI)


# The models of the map, by the letter it shows, and their z columns.
MAP_MODELS = {"T": "z_tilted", "D": "z_d6", "S": "z_signbin", "C": "z_cascade"}


def best_z(row: dict) -> float:
    """z of theory.best_model's prediction at the row's point, with the z of the model it
    names: in-sample where that is the tilted model, whose adoption reads these runs."""
    name = best_model.best_model_name(row["n"], row["m"], row["lam"])
    if name == best_model.TILTED_NAME:
        return row["z_tilted"]
    return row["z_cascade"] if name == cascades.MODEL_NAME else row["z_signbin"]


def model_map(rows: list[dict]) -> list[str]:
    """Where each model holds (descriptive, after the registered steps): per (n, lam) and
    m/n, the letters of the models within |z| <= 2 (MAP_MODELS) and the best z."""
    ratios = sorted({r["m"] / r["n"] for r in rows})
    lines = ["| n | lam | " + " | ".join(f"m/n = {q:g}" for q in ratios) + " |",
             "|" + "---|" * (len(ratios) + 2)]
    for (n, lam) in sorted({(r["n"], r["lam"]) for r in rows}):
        cells = {r["m"] / r["n"]: r for r in rows if (r["n"], r["lam"]) == (n, lam)}
        text = [("".join(k for k, z in MAP_MODELS.items() if abs(cells[q][z]) <= 2) or "-")
                + f" ({best_z(cells[q]):+.1f})" if q in cells else "" for q in ratios]
        lines.append(f"| {n} | {lam:g} | " + " | ".join(text) + " |")
    return lines


def lam_effects(points: dict) -> list[dict]:
    """Analysis step 4: per (n, m), count(1e-2) - count(1e-3) on the same W(0), against
    the models' differences (descriptive)."""
    out = []
    for (n, m, lam), hi in sorted(points.items()):
        lo = points.get((n, m, 1e-3))
        if lam != 1e-2 or lo is None:
            continue
        d = np.array([hi[i] - lo[i] for i in sorted(hi.keys() & lo.keys())], float)
        out.append({"n": n, "m": m, **paired(d),
                    "tilted_diff": tilted.expected_poly_tilted(n, m, 1e-2)
                    - tilted.expected_poly_tilted(n, m, 1e-3),
                    "d6_diff": d6(n, m, 1e-2, 0.0, 1)["mean"] - d6(n, m, 1e-3, 0.0, 1)["mean"]})
    return out


def analyse(points: dict, cascade: bool = True) -> dict:
    """Every table of the preregistration from the runs (analysis steps 1-4)."""
    rows, missing = [], []
    for (n, m, lam), counts in sorted(points.items()):
        if len(counts) < MIN_RUNS:
            missing.append({"n": n, "m": m, "lam": lam, "k": len(counts)})
            continue
        rows.append(point(n, m, lam, list(counts.values()), cascade))
    return {"rows": rows, "missing": missing, "tilted": verdict(rows, "z_tilted"),
            "d6": verdict(rows, "z_d6"), "lam_effects": lam_effects(points)}


def markdown(a: dict) -> str:
    lines = ["| n | m/n | lam | k | mean [95% CI] | tilted E (z) | D6 E (z) | sign-bin E (z) "
             "| cascade E (z) | ln w measured / model |", "|" + "---|" * 10]
    for r in a["rows"]:
        lines.append(
            f"| {r['n']} | {r['m'] / r['n']:g} | {r['lam']:g} | {r['k']} | {r['mean']:.2f} "
            f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}] | {r['tilted']:.2f} ({r['z_tilted']:+.1f}) "
            f"| {r['d6']:.2f} ({r['z_d6']:+.1f}) | {r['signbin']:.2f} ({r['z_signbin']:+.1f}) "
            f"| {r['cascade']:.2f} ({r['z_cascade']:+.1f}) "
            f"| {r['measured_log_w']:+.2f} / {r['model_log_w']:+.2f} |")
    for name in ("tilted", "d6"):
        v = a[name]
        lines.append(f"\n{name}: {v['misses']} of {v['points']} points with |z| > 2; "
                     f"H-single {v['H_single']}, C1 {v['C1']}, C2 {v['C2']} "
                     f"(max |z| {v['max_abs_z']:.1f})")
    passed = sorted(c2_points(a["rows"]))
    lines.append(f"\ntilted model passes C2 (|z| <= {Z_BONFERRONI}) at {len(passed)} points "
                 "(n, m/n, lam): " + ", ".join(f"({n}, {r:g}, {lam:g})" for n, r, lam in passed))
    lines += ["", "Where each model holds (T tilted, D D6, S sign-bin, C cascade: |z| <= 2; "
              "in brackets the z of theory.best_model's prediction):", ""]
    lines += model_map(a["rows"])
    if a["missing"]:
        lines.append("\nmissing (fewer than 12 converged runs): "
                     + ", ".join(f"({p['n']}, {p['m']}, {p['lam']:g}): {p['k']}"
                                 for p in a["missing"]))
    lines += ["", "| n | m/n | pairs | count(1e-2) - count(1e-3) [95% CI] | tilted | D6 |",
              "|" + "---|" * 6]
    for e in a["lam_effects"]:
        lines.append(f"| {e['n']} | {e['m'] / e['n']:g} | {e['pairs']} | {e['mean_diff']:+.2f} "
                     f"[{e['ci_low']:+.2f}, {e['ci_high']:+.2f}] | {e['tilted_diff']:+.2f} "
                     f"| {e['d6_diff']:+.2f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m simulations.studies.single_model_confirm")
    ap.add_argument("csv", help="the cascade-check CSV of the registered grid")
    ap.add_argument("--no-cascade", action="store_true",
                    help="leave out the cascade model (its Monte Carlo takes minutes)")
    args = ap.parse_args(argv)
    print(markdown(analyse(read(args.csv), cascade=not args.no_cascade)))


if __name__ == "__main__":
    main()
