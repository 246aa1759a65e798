"""Candidate laws for the tilt of the injective occupancy (issue 19, item 1, second exploration).

`python -m simulations.studies.tilt_candidates [--only NAME] [--cascade]`

docs/theory/tilted-occupancy.md#what-else-was-tried. Each candidate replaces eq. T7,
ln w = -theta ln T_f, by a law ln w(n, m, lam; c) whose constants c are fitted ONLY on the
exploration runs at n <= 128 (docs/data/single_model_explore.csv, master seed 8 219 019),
by the same weighted least squares as the tilted model's theta (weights k / SD^2). The
published prox-gd runs at n = 256 and 384 (lr 0.05) are the out-of-sample check; the
published runs at n <= 128 are reported separately (they are not out-of-sample for the
n-dependence read off the tilt map, which used them).

z = (mean - E) / sqrt(SD^2 / k + SE_E^2), SD the model's own SD (eq. T3) and SE_E the
error of E from the fitted constants (their covariance from the curvature of chi^2,
inflated by sqrt(chi^2 / dof) when that exceeds 1), as in single_model_table.
No new simulation was run for this exploration.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize

from simulations.studies import single_model_table as table
from theory import tilted_occupancy as tilted
from theory.collisions import expected_poly_exact, sd_poly_exact

# mean positive overlap E[G^+] = 1 / sqrt(2 pi m) times sqrt(m): the slope of the EV push
K_EV = 1.0 / math.sqrt(2.0 * math.pi)


def ln_tf(m: int, lam: float) -> float:
    """max(0, ln T_f): the e-folds of the dense phase (eqs. T6-T7)."""
    return max(0.0, math.log(tilted.freeze_time(m, lam)))


def u2(m: int) -> float:
    """Squared extreme level of m Gaussians to leading order, 2 ln m."""
    return 2.0 * math.log(m)


def pressure(n: int, m: int) -> float:
    """Lambda = sum over the other features of E[G_ij^+] = (n - 1) / sqrt(2 pi m): the total
    positive-overlap pressure on a feature at initialisation (G_ij ~ N(0, 1/m))."""
    return (n - 1) / math.sqrt(2.0 * math.pi * m)


# name -> (law ln w(n, m, lam, c), initial c, what it is)
CANDIDATES: dict[str, tuple[Callable[..., float], list[float], str]] = {
    "T0": (lambda n, m, lam, c: -c[0] * ln_tf(m, lam), [0.04],
           "tilted model, eq. T7 (reference)"),
    "D1": (lambda n, m, lam, c: -c[0] * ln_tf(m, lam) + K_EV * (n / m) * math.log(m), [0.2],
           "EV tilt of a crowding push: + (n/m) ln m / sqrt(2 pi)"),
    "D2": (lambda n, m, lam, c: -c[0] * ln_tf(m, lam) + u2(m) / math.sqrt(2 * math.pi * m),
           [0.08], "EV tilt of the holder's own push: + 2 ln m / sqrt(2 pi m)"),
    "D6": (lambda n, m, lam, c: -c[0] * ln_tf(m, lam)
           + K_EV * (n / m) * max(0.0, math.log(n / 64.0)), [0.05],
           "EV slope, onset n0 = 64 read off the tilt map: + (n/m) max(0, ln(n/64)) / sqrt(2 pi)"),
    "D7": (lambda n, m, lam, c: -c[0] * ln_tf(m, lam)
           + (n / m) * max(0.0, math.log(pressure(n, m) / 2.0)), [0.05],
           "crowding pressure over the pair relaxation rate: + (n/m) max(0, ln(Lambda / 2))"),
    "E7": (lambda n, m, lam, c: -c[0] * ln_tf(m, lam)
           + (n / m) * max(0.0, math.log(pressure(n, m)) - c[1]), [0.05, 1.0],
           "crowding pressure, onset Lambda0 = e^c1 fitted: TWO fitted constants"),
    "E2": (lambda n, m, lam, c: -c[0] * ln_tf(m, lam)
           + K_EV * (n / m) * max(0.0, math.log(n) - c[1]), [0.057, 4.0],
           "EV slope, onset n0 = e^c1 fitted: TWO fitted constants (theta, ln n0)"),
}


def _chi2(law, c, pts) -> float:
    s = 0.0
    for p in pts:
        mo = tilted.tilted_moments(p["n"], p["m"], law(p["n"], p["m"], p["lam"], c))
        s += p["k"] * (p["mean"] - mo["mean"]) ** 2 / mo["sd"] ** 2
    return s


def fit(law, c0, pts) -> tuple[np.ndarray, np.ndarray, float, int]:
    """(c, cov(c), chi2, dof) on `pts`."""
    c0 = np.asarray(c0, float)
    r = minimize(lambda c: _chi2(law, c, pts), c0, method="Nelder-Mead",
                 options={"xatol": 1e-6, "fatol": 1e-6, "maxiter": 4000})
    c, k = np.asarray(r.x, float), len(c0)
    h = np.maximum(1e-3, 1e-2 * np.abs(c))
    H = np.zeros((k, k))
    for a in range(k):
        for b in range(k):
            ea, eb = np.eye(k)[a] * h[a], np.eye(k)[b] * h[b]
            H[a, b] = (_chi2(law, c + ea + eb, pts) - _chi2(law, c + ea - eb, pts)
                       - _chi2(law, c - ea + eb, pts)
                       + _chi2(law, c - ea - eb, pts)) / (4 * h[a] * h[b])
    dof = len(pts) - k
    cov = 2.0 * np.linalg.inv(H) * max(1.0, float(r.fun) / dof)
    return c, cov, float(r.fun), dof


def predict(law, c, cov, p) -> dict[str, float]:
    lw = law(p["n"], p["m"], p["lam"], c)
    mo = tilted.tilted_moments(p["n"], p["m"], lw)
    step = np.eye(len(c)) * 1e-4
    g = np.array([(tilted.tilted_moments(p["n"], p["m"],
                                         law(p["n"], p["m"], p["lam"], c + step[a]))["mean"]
                   - mo["mean"]) / 1e-4 for a in range(len(c))])
    se = math.sqrt(max(0.0, float(g @ cov @ g)))
    z = (p["mean"] - mo["mean"]) / math.sqrt(mo["sd"] ** 2 / p["k"] + se**2)
    return {"mean": mo["mean"], "sd": mo["sd"], "se": se, "log_w": lw, "z": z}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m simulations.studies.tilt_candidates")
    ap.add_argument("--only", nargs="*", default=None, help="candidate names (default: all)")
    ap.add_argument("--cascade", action="store_true", help="add the cascade model's z (slow)")
    a = ap.parse_args(argv)
    explore = table.points([table.EXPLORE])
    pub = table.points(table.PUBLISHED)
    small = [p for p in pub if p["n"] <= 128]
    oos = [p for p in pub if p["n"] >= 256]
    for name, (law, c0, what) in CANDIDATES.items():
        if a.only and name not in a.only:
            continue
        c, cov, c2, dof = fit(law, c0, explore)
        se = np.sqrt(np.diag(cov))
        print(f"\n## {name}: {what}")
        print("constants: " + ", ".join(f"{x:.4f} ± {s:.4f}" for x, s in zip(c, se, strict=True))
              + f"; chi2 (exploration) {c2:.1f} on {dof} dof")
        for label, pts in (("published n <= 128", small), ("OUT-OF-SAMPLE n >= 256", oos)):
            zs = [predict(law, c, cov, p)["z"] for p in pts]
            print(f"{label}: {sum(abs(z) > 2 for z in zs)} of {len(zs)} with |z| > 2, "
                  f"sum z^2 {sum(z * z for z in zs):.0f}")
        print("| source | n | m/n | lam | k | sim mean ± SE | E (SD) | SE_E | ln w | z |"
              " sign-bin z |" + (" cascade z |" if a.cascade else ""))
        print("|" + "---|" * (12 if a.cascade else 11))
        for p in oos:
            r = predict(law, c, cov, p)
            sb = (p["mean"] - float(expected_poly_exact(p["n"], p["m"]))) / (
                float(sd_poly_exact(p["n"], p["m"])) / math.sqrt(p["k"]))
            line = (f"| {p['src']} | {p['n']} | {p['m'] / p['n']:g} | {p['lam']:g} | {p['k']} | "
                    f"{p['mean']:.2f} ± {p['se']:.2f} | {r['mean']:.2f} ({r['sd']:.2f}) | "
                    f"{r['se']:.2f} | {r['log_w']:+.2f} | {r['z']:+.1f} | {sb:+.1f} |")
            if a.cascade:
                line += f" {table.row(p)['z_cascade']:+.1f} |"
            print(line, flush=True)


if __name__ == "__main__":
    main()
