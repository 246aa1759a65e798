"""Figures of the noise experiments; each takes results from ``simulations.noise`` and computes
nothing (docs/theory/noise.md#e2, #phase-map, #counts)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

_SHAPE_CMAP = {"bernoulli": "Reds", "gaussian": "Blues", "uniform": "Oranges", "laplace": "Greens"}
_SHAPE_COLOR = {"bernoulli": "tab:red", "gaussian": "tab:blue", "uniform": "tab:orange",
                "laplace": "tab:green"}


def _curves(ax, runs, color_of, label_of) -> None:
    for r in runs:
        steps = np.asarray(r["record_steps"], float)
        keep = steps > 0  # log axis
        b = r["band"]
        col = color_of(r)
        ax.plot(steps[keep], np.asarray(b["mean"])[keep], color=col, label=label_of(r))
        ax.fill_between(steps[keep], np.asarray(b["lo"])[keep], np.asarray(b["hi"])[keep],
                        color=col, alpha=0.2, lw=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("GD step (code time = lr x step)")
    ax.grid(True, which="both", alpha=0.3)


def e2_figure(e2: dict) -> Figure:
    """E2: mean sum_k W_ik^4 vs step, log-log; left the paper's pair, right all four shapes."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2, sharey=True)
    sigmas = sorted({r["sigma"] for r in e2["runs"]})

    def shade(r):
        import matplotlib

        cmap = matplotlib.colormaps[_SHAPE_CMAP[r["shape"]]]
        return cmap(0.45 + 0.5 * sigmas.index(r["sigma"]) / max(1, len(sigmas) - 1))

    paper = [r for r in e2["runs"] if r["shape"] in ("bernoulli", "gaussian")]
    _curves(ax1, paper, shade, lambda r: f"{r['shape']} σ={r['sigma']:g}")
    ax1.set_ylabel(r"mean over features of $\sum_k W_{ik}^4$")
    ax1.set_title(f"E2 (paper): n={e2['n']}, m={e2['m']}, {e2['instances']} inst., "
                  f"{e2['sharing']} noise")
    ax1.axhline(e2["simplex_plateau"], color="k", ls=":", lw=1,
                label=f"anchored simplex {e2['simplex_plateau']:.3f}")
    ax1.legend(fontsize=7)
    _curves(ax2, e2["runs"], shade, lambda r: f"{r['shape']} (κ={r['kappa']:g}) σ={r['sigma']:g}")
    ax2.set_title("all four noise shapes (matched variance)")
    ax2.legend(fontsize=6, ncol=2)
    fig.text(0.5, -0.02, "bands: 95% Student-t interval over instances (shared noise: "
             "instances are correlated)", ha="center", fontsize=8)
    return fig


def kdraws_figure(kd: dict) -> Figure:
    """Single-draw SGD vs the K-draw expected-gradient mode, Bernoulli and Gaussian."""
    fig = Figure(figsize=(6, 4.2), layout="constrained")
    ax = fig.subplots()
    _curves(
        ax, kd["runs"],
        lambda r: _SHAPE_COLOR[r["shape"]] if r["draws"] == 1 else
        {"bernoulli": "darkred", "gaussian": "navy"}[r["shape"]],
        lambda r: f"{r['shape']}, K={r['draws']}",
    )
    for line, r in zip(ax.get_lines(), kd["runs"], strict=True):
        if r["draws"] > 1:
            line.set_linestyle("--")
    ax.set_ylabel(r"mean $\sum_k W_{ik}^4$")
    ax.set_title(f"expected-gradient mode: σ={kd['sigma']:g}, n={kd['n']}, m={kd['m']}")
    ax.legend(fontsize=8)
    return fig


def phase_figure(ph: dict) -> Figure:
    """Phase map: sparsification index (Bernoulli over Gaussian) on the (sigma (n-1), n) grid."""
    fig = Figure(figsize=(12, 4.4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    idx = np.array([[np.nan if v is None else v for v in row] for row in ph["index"]], float)
    im = ax1.imshow(idx, origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax1.set_xticks(range(len(ph["scaled_sigmas"])), [f"{x:g}" for x in ph["scaled_sigmas"]])
    ax1.set_yticks(range(len(ph["ns"])), [str(n) for n in ph["ns"]])
    ax1.set_xlabel(r"$\sigma\,(n-1)$  (prediction: effect near 1)")
    ax1.set_ylabel(f"n  (m = {ph['m_factor']}n)")
    for (i, j), v in np.ndenumerate(idx):
        txt = "div" if np.isnan(v) else f"{v:.2f}"
        ax1.text(j, i, txt, ha="center", va="center", fontsize=7,
                 color="k" if (np.isnan(v) or v >= 0.5) else "w")
    fig.colorbar(im, ax=ax1, label="(f4_B − f4_G) / (1 − f4_G)")
    ax1.set_title(f"sparsification index, {ph['sharing']} noise, {ph['max_steps']} steps")
    fb = np.array([[np.nan if v is None else v for v in row] for row in ph["f4_bernoulli"]])
    fg = np.array([[np.nan if v is None else v for v in row] for row in ph["f4_gaussian"]])
    for a, n in enumerate(ph["ns"]):
        line = ax2.plot(ph["scaled_sigmas"], fb[a], "o-", label=f"n={n} Bernoulli")[0]
        ax2.plot(ph["scaled_sigmas"], fg[a], "x--", color=line.get_color(), alpha=0.6)
    ax2.axvline(1.0, color="k", lw=0.8, ls=":")
    for a in range(len(ph["ns"])):
        ax2.axhline(ph["simplex_plateau"][a], color=ax2.get_lines()[2 * a].get_color(),
                    lw=0.6, ls=":")
    ax2.set_xscale("log")
    ax2.set_xticks(ph["scaled_sigmas"], [f"{x:g}" for x in ph["scaled_sigmas"]])
    ax2.minorticks_off()
    ax2.set_xlabel(r"$\sigma\,(n-1)$")
    ax2.set_ylabel(r"final mean $\sum_k W_{ik}^4$ (dashed: Gaussian)")
    ax2.legend(fontsize=7)
    ax2.grid(True, alpha=0.3)
    return fig


def counts_figure(cnt: dict) -> Figure:
    """Polysemantic counts under noise (assignment and window rules) vs the collision theory."""
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.subplots()
    rows = cnt["rows"]
    x = np.arange(len(rows))
    ax.errorbar(x - 0.1, [r["mean_assignment"] for r in rows],
                yerr=[1.96 * r["se_assignment"] for r in rows], fmt="o", label="assignment rule")
    ax.plot(x + 0.1, [r["mean_window"] for r in rows], "s", label="[0.8, 1.2] window rule")
    ax.plot(x, [r["expected"] for r in rows], "k_", ms=25, mew=2,
            label="collision theory (exact)")
    ax.plot(x, [r["simplex_assignment"] for r in rows], "r_", ms=25, mew=2,
            label="anchored simplex (assignment rule)")
    ax.set_xticks(x, [f"n={r['n']}, m={r['m']}\nσ={r['sigma']:.3g}" for r in rows])
    ax.set_ylabel("polysemantic neurons per model")
    ax.set_title(f"{cnt['shape']} noise, {cnt['instances']} independent models, "
                 f"{cnt['max_steps']} steps")
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return fig
