"""Figure of the E1 reproduction; takes the results dict of ``simulations.sparsification`` and
computes nothing (docs/theory/sparsification.md#e1)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

_STYLE = {
    "exact": dict(color="black", lw=2.0, label="simulation (exact reduction)"),
    "ode": dict(color="tab:green", ls="none", marker="o", ms=4, mfc="none", label="ode (scipy)"),
    "euler": dict(color="tab:orange", ls="none", marker="x", ms=4, label="euler (authors, dt)"),
    "paper": dict(color="tab:red", ls="--", label="paper's law"),
    "refined": dict(color="tab:blue", ls="-.", label="refined law (r from mean field)"),
    "mean_field": dict(color="tab:purple", ls=":", lw=2.0, label="mean field (m -> inf)"),
}


def e1_figure(res: dict) -> Figure:
    """Log-log m'(t), ||w||_1(t) and simulated/predicted ratios, against the three laws."""
    fig = Figure(figsize=(14, 4.4), layout="constrained")
    ax_m, ax_l, ax_r = fig.subplots(1, 3)
    t = np.asarray(res["t"])
    keep = t > 0
    curves = res["curves"]
    for key in ("exact", "ode", "euler"):
        if key in curves:
            c = curves[key]
            tc = np.asarray(c["t"])
            k = tc > 0
            ax_m.plot(tc[k], np.asarray(c["m_prime"])[k], **_STYLE[key])
            ax_l.plot(tc[k], np.asarray(c["l1"])[k], **_STYLE[key])
    for key in ("paper", "refined", "mean_field"):
        c = curves[key]
        ax_m.plot(t[keep], np.asarray(c["m_prime"])[keep], **_STYLE[key])
        ax_l.plot(t[keep], np.asarray(c["l1"])[keep], **_STYLE[key])
        ratio = np.asarray(curves["exact"]["m_prime"])[keep] / np.asarray(c["m_prime"])[keep]
        ax_r.plot(t[keep], ratio, color=_STYLE[key]["color"], ls=_STYLE[key].get("ls", "-"),
                  label=f"m' / {_STYLE[key]['label']}")
    if np.isfinite(res["t_full"]):
        for ax in (ax_m, ax_l, ax_r):
            ax.axvline(res["t_full"], color="gray", lw=0.8)
        ax_m.annotate(" t_full", (res["t_full"], res["params"]["m"] ** 0.5), color="gray")
    ax_m.set_ylabel("m' (number of nonzero weights)")
    ax_l.set_ylabel("||w||_1")
    ax_r.set_ylabel("simulated m' / predicted m'")
    ax_r.axhline(1.0, color="gray", lw=0.8)
    for ax in (ax_m, ax_l, ax_r):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("t (normalized flow time, 4 lr steps)")
        ax.grid(True, which="both", alpha=0.3)
    ax_m.legend(fontsize=8)
    ax_r.legend(fontsize=7)
    p = res["params"]
    fig.suptitle(f"E1: single-feature sparsification, m={p['m']:.3g}, "
                 f"lam~={p['lam_normalized']:.3g} (normalized), sigma0={p['sigma0']}, "
                 f"seed={res['seed']}")
    return fig
