"""Figure of ``simulations.noise_optimum``: the measured optimum over the phase map.

Computes nothing: it draws the summary of the ``speed`` part (docs/theory/noise.md#optimum).
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure


def optimum_figure(speed: dict, confirm: dict | None = None) -> Figure:
    """Left: sparsification index at the budget over (n, sigma (n-1)), with the measured
    fastest cell of each n (star), the scale sigma (n-1) = 1 and the eq. (12) optimum 1/a*.
    Right: median t_half against sigma (n-1), one line per n (censored runs omitted).

    ``confirm``: optionally the speed summary of a second run (another master seed); its
    fastest cells are drawn as open circles and its t_half curves dashed."""
    ns = sorted(speed, key=int)
    if confirm is not None:  # keys as in ``speed`` (int from a run, str from JSON)
        confirm = {type(ns[0])(k): v for k, v in confirm.items()}
    xs = sorted({float(x) for n in ns for x in speed[n]["cells"]})
    index = np.full((len(ns), len(xs)), np.nan)
    for a, n in enumerate(ns):
        for x, cell in speed[n]["cells"].items():
            index[a, xs.index(float(x))] = cell["index"]
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    im = ax1.imshow(index, origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax1.set_xticks(range(len(xs)), [f"{x:g}" for x in xs])
    ax1.set_yticks(range(len(ns)), [str(n) for n in ns])
    ax1.set_xlabel(r"$\sigma(n-1)$")
    ax1.set_ylabel("n  (m = 2n)")
    fig.colorbar(im, ax=ax1, label="sparsification index at the budget")

    def pos(x):  # grid coordinate of a sigma (n-1) value (piecewise-linear in the grid)
        return float(np.interp(x, xs, np.arange(len(xs))))

    theory = float(next(iter(speed.values()))["theory_optimum"])
    ax1.axvline(pos(1.0), color="w", ls=":", label=r"scale $\sigma(n-1)=1$")
    ax1.axvline(pos(theory), color="w", ls="--", label=f"eq. (12) optimum {theory:.3f}")
    for a, n in enumerate(ns):
        best = speed[n]["measured_optimum"]
        if best is not None:
            ax1.plot(pos(float(best)), a, "r*", ms=14,
                     label="fastest (median $t_{1/2}$)" if a == 0 else None)
    if confirm is not None:
        for a, n in enumerate(ns):
            best = confirm.get(n, {}).get("measured_optimum")
            if best is not None:
                ax1.plot(pos(float(best)), a, "o", mfc="none", mec="orange", ms=14, mew=2,
                         label="fastest, confirmation run" if a == len(ns) - 1 else None)
    ax1.legend(loc="lower right", fontsize=7, framealpha=0.8)
    runs = [(speed, "o-", "")] + ([(confirm, "s--", " (confirm.)")] if confirm else [])
    for k, n in enumerate(ns):
        for summ, style, tag in runs:
            if n not in summ:
                continue
            cells = summ[n]["cells"]
            x = np.array([float(key) for key in cells])
            t = np.array([c["median_t_half"] if c["median_t_half"] is not None else math.inf
                          for c in cells.values()], float)
            keep = np.isfinite(t)
            if keep.any():
                ax2.plot(x[keep], t[keep], style, color=f"C{k}", label=f"n = {n}{tag}")
    has_curves = bool(ax2.lines)
    ax2.axvline(1.0, color="k", ls=":")
    ax2.axvline(theory, color="k", ls="--")
    if has_curves:  # at least one n has a finite median t_half
        ax2.set_yscale("log")
    ax2.set_xlabel(r"$\sigma(n-1)$")
    ax2.set_ylabel(r"median $t_{1/2}$ (GD steps)")
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=8)
    return fig
