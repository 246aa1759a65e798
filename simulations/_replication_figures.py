"""Figure of the lam / step-size replication (docs/preregistration-lam-lr.md).

Top row, one panel per m: the mean count (assignment rule) against lam with its 95%
interval, one series per lr, and the sign-bin and best-model predictions, which do not
depend on lam. Bottom row: H-lr itself, the paired difference count(lr 0.05) −
count(lr 0.0125) on the same W(0) with its 95% interval, each point labelled with the
fidelity (share of features ending on the same (neuron, sign) at both step sizes). The
marginal means of the top row can differ between step sizes through the instances alone
(before the grid is complete they are different instances); the bottom row cannot.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["figure_counts"]


def figure_counts(analysis: dict):
    """Mean count vs lam per m and lr with the theory lines, and the paired lr difference;
    from `replication.analyse`."""
    rows = analysis["against_theory"]
    ms = sorted({r["m"] for r in rows})
    paired = any(r["pairs"] > 0 for r in analysis["h_lr"])
    fig, axes = plt.subplots(2 if paired else 1, len(ms), figsize=(4.2 * len(ms),
                             6.6 if paired else 3.8), squeeze=False, constrained_layout=True)
    if paired:
        for ax, m in zip(axes[1], ms, strict=True):
            _draw_paired(ax, [(r, f) for r, f in zip(analysis["h_lr"], analysis["fidelity"],
                                                    strict=True) if r["m"] == m])
        axes[1][0].set_ylabel("count(lr 0.05) − count(lr 0.0125)\n(paired mean, 95% CI)")
    for ax, m in zip(axes[0], ms, strict=True):
        cell = [r for r in rows if r["m"] == m]
        lrs = sorted({r["lr"] for r in cell}, reverse=True)
        for shift, lr in zip((0.97, 1.03), lrs, strict=False):
            series = sorted((r for r in cell if r["lr"] == lr and r["k"] > 0),
                            key=lambda r: r["lam"])
            if not series:  # this step size has no stored run yet
                continue
            lam = np.array([r["lam"] for r in series]) * shift  # side by side, not on top
            mean = np.array([r["mean"] for r in series], float)
            err = np.array([[r["mean"] - r["ci_low"], r["ci_high"] - r["mean"]]
                            for r in series], float).T
            ax.errorbar(lam, mean, yerr=err, marker="o", ms=4, capsize=3, lw=1,
                        label=f"lr = {lr:g} (k = {min(r['k'] for r in series)})")
        ax.axhline(cell[0]["pred_exact"], color="0.35", lw=1, label="sign-bin E[X]")
        if cell[0]["pred_best"] != cell[0]["pred_exact"]:
            ax.axhline(cell[0]["pred_best"], color="tab:red", lw=1, ls=":", label="best model")
        ax.set_xscale("log")
        ax.set_xlabel("lam (code units)")
        ax.set_title(f"n = {analysis['grid']['n']}, m = {m}")
    axes[0][0].set_ylabel("polysemantic neurons (mean, 95% CI)")
    # one legend for all panels (the best-model line is drawn only where it differs)
    labelled = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            labelled.setdefault(label, handle)
    axes[0][-1].legend(labelled.values(), labelled.keys(), fontsize=8)
    return fig


def _draw_paired(ax, cells) -> None:
    """H-lr on one m: paired mean difference per lam, labelled with the fidelity."""
    cells = sorted(((r, f) for r, f in cells if r["pairs"] > 0), key=lambda c: c[0]["lam"])
    lam = np.array([r["lam"] for r, _ in cells])
    mean = np.array([r["mean_diff"] for r, _ in cells], float)
    err = np.array([[r["mean_diff"] - r["ci_low"], r["ci_high"] - r["mean_diff"]]
                    for r, _ in cells], float).T
    ax.axhline(0.0, color="0.35", lw=1)
    ax.errorbar(lam, mean, yerr=err, marker="o", ms=4, capsize=3, lw=1, color="tab:green")
    for x, y, (r, f) in zip(lam, mean, cells, strict=True):
        ax.annotate(f"{100 * f['same_fraction']:.1f}% same\n(k = {r['pairs']})", (x, y),
                    textcoords="offset points", xytext=(6, 4), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("lam (code units)")
