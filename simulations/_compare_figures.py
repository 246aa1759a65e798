"""Figures of the main job. Each function takes report data and returns a figure.

E3: count vs m (log-log) with CI bands and both theory curves; E4: initial vs
final encodings; E5: count vs m per lambda (docs/paper.md#experiments).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["figure_e3", "figure_e4", "figure_e5"]


def _groups(rows: Sequence[dict], keys: tuple[str, ...]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return {k: sorted(v, key=lambda r: r["m"]) for k, v in sorted(out.items())}


def _positive(values) -> np.ndarray:
    # Log axes cannot show 0: a zero mean or CI bound is drawn at the axis floor.
    return np.maximum(np.asarray(values, dtype=float), 1e-2)


def figure_e3(rows: Sequence[dict]):
    """Mean polysemantic count vs m per (n, lam, optimizer), with theory curves."""
    fig, ax = plt.subplots(figsize=(6.4, 4.6), constrained_layout=True)
    for (n, lam, opt), group in _groups(rows, ("n", "lam", "optimizer")).items():
        m = np.array([r["m"] for r in group])
        label = f"n={n}, λ={lam:g}, {opt}"
        line = ax.plot(
            m,
            _positive([r["sim_mean"] for r in group]),
            marker="o",
            ms=4,
            lw=1.2,
            label=f"simulated, window rule ({label})",
        )
        color = line[0].get_color()
        ax.fill_between(
            m,
            _positive([r["sim_ci_low"] for r in group]),
            _positive([r["sim_ci_high"] for r in group]),
            color=color,
            alpha=0.2,
            lw=0,
        )
        ax.plot(
            m,
            _positive([r["sim_mean_assignment"] for r in group]),
            ls="none",
            marker="x",
            color=color,
            label="simulated, assignment rule",
        )
        grid = np.geomspace(m.min(), m.max(), 200)
        ax.plot(grid, n**2 / (4 * grid), color="k", ls="--", lw=1, label="theory: n²/4m (paper)")
        ax.plot(
            m,
            [r["pred_exact"] for r in group],
            color="0.35",
            lw=1,
            label="theory: exact sign-bin E[X]",
        )
        ax.plot(
            m,
            [r["pred_best"] for r in group],
            color="tab:red",
            lw=1,
            ls=":",
            label="theory: best model (cascades.md#verdict)",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("hidden neurons m")
    ax.set_ylabel("polysemantic neurons (mean over instances)")
    ax.set_title("E3: incidental polysemanticity vs width (band: 95% CI of the mean)")
    _dedupe_legend(ax)
    return fig


def figure_e4(cross: np.ndarray, rows: Sequence[dict], spec_label: str):
    """Left: W(0) W(T)^T of one instance; right: its diagonal vs off-diagonal level over m."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.4), constrained_layout=True)
    bound = float(np.max(np.abs(cross))) or 1.0
    image = left.imshow(cross, cmap="RdBu_r", vmin=-bound, vmax=bound)
    left.set_xlabel("feature j (final encoding)")
    left.set_ylabel("feature i (initial encoding)")
    left.set_title(f"⟨W_i(0), W_j(T)⟩, one instance\n{spec_label}")
    fig.colorbar(image, ax=left, shrink=0.85)
    for (n, lam, opt), group in _groups(rows, ("n", "lam", "optimizer")).items():
        m = [r["m"] for r in group]
        right.plot(
            m,
            [r["init_final_diag_mean"] for r in group],
            marker="o",
            label=f"diagonal mean (n={n}, λ={lam:g}, {opt})",
        )
        right.plot(
            m,
            [r["init_final_offdiag_std"] for r in group],
            marker="x",
            ls="--",
            label="off-diagonal std",
        )
    right.set_xscale("log")
    right.set_xlabel("hidden neurons m")
    right.set_ylabel("inner product of initial and final encodings")
    right.set_title("E4: the final encoding remembers the initial one")
    _dedupe_legend(right)
    return fig


def figure_e5(rows: Sequence[dict]):
    """Mean polysemantic count vs m, one curve per lambda (per n and optimizer)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.6), constrained_layout=True)
    for (n, opt, lam), group in _groups(rows, ("n", "optimizer", "lam")).items():
        m = np.array([r["m"] for r in group])
        line = ax.plot(
            m,
            _positive([r["sim_mean"] for r in group]),
            marker="o",
            label=f"λ={lam:g} (n={n}, {opt})",
        )
        ax.fill_between(
            m,
            _positive([r["sim_ci_low"] for r in group]),
            _positive([r["sim_ci_high"] for r in group]),
            color=line[0].get_color(),
            alpha=0.2,
            lw=0,
        )
    for n, group in _groups(rows, ("n",)).items():
        grid = np.geomspace(min(r["m"] for r in group), max(r["m"] for r in group), 200)
        ax.plot(grid, n[0] ** 2 / (4 * grid), color="k", ls="--", lw=1, label="theory: n²/4m")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("hidden neurons m")
    ax.set_ylabel("polysemantic neurons (mean, window rule)")
    ax.set_title("E5: the count does not depend on λ (band: 95% CI)")
    _dedupe_legend(ax)
    return fig


def _dedupe_legend(ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    seen: dict[str, object] = {}
    for h, label in zip(handles, labels, strict=True):
        seen.setdefault(label, h)
    ax.legend(seen.values(), seen.keys(), fontsize=7, loc="best")
