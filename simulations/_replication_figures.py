"""Figure of the lam / step-size replication (docs/preregistration-lam-lr.md).

One panel per m: the mean count (assignment rule) against lam with its 95% interval, one
series per lr, and the sign-bin and best-model predictions, which do not depend on lam.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["figure_counts"]


def figure_counts(analysis: dict):
    """Mean count vs lam per m and lr, with the theory lines; from `replication.analyse`."""
    rows = analysis["against_theory"]
    ms = sorted({r["m"] for r in rows})
    fig, axes = plt.subplots(1, len(ms), figsize=(4.2 * len(ms), 3.8), squeeze=False,
                             constrained_layout=True)
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
