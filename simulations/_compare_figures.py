"""Figures of the main job. Each function takes report data and returns a figure.

E3: count vs m (log-log) with CI bands and the theory curves; E4: initial vs
final encodings; E5: count vs m per lambda (docs/paper.md#experiments).

The m axis is labelled at the data's m values (`label_m_axis`); legends name models,
never files or doc anchors (those are in report.json and the printed table).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["coincidence_note", "figure_e3", "figure_e4", "figure_e5", "label_m_axis", "m_ticks",
           "plain_log_y"]

# At most this many labelled m ticks, and labelled ticks at least this fraction of the
# axis's log span apart, so that the numbers never run into each other.
_MAX_M_TICKS = 8
_MIN_TICK_GAP = 0.07


def m_ticks(values) -> list[int]:
    """The m values to label: all of them when few, else the powers of two among them
    (else an evenly spread subset), thinned so that neighbours stay apart on a log axis."""
    ms = sorted({int(v) for v in values})
    if len(ms) > _MAX_M_TICKS:
        powers = [v for v in ms if v > 0 and v & (v - 1) == 0]
        if 2 <= len(powers) <= _MAX_M_TICKS:
            ms = powers
        else:
            picks = np.round(np.linspace(0, len(ms) - 1, _MAX_M_TICKS)).astype(int)
            ms = [ms[i] for i in sorted(set(picks))]
    if len(ms) < 3:
        return ms
    span = np.log(ms[-1] / ms[0])
    kept = [ms[0]]
    # keep the largest m too: walk inwards, dropping a tick too close to the last kept one
    for v in ms[1:-1]:
        if np.log(v / kept[-1]) >= _MIN_TICK_GAP * span and np.log(ms[-1] / v) >= (
            _MIN_TICK_GAP * span
        ):
            kept.append(v)
    return [*kept, ms[-1]]


def label_m_axis(ax, values) -> None:
    """Major ticks, labelled in plain numbers, at the data's m values (`m_ticks`); minor
    ticks stay, unlabelled."""
    ticks = m_ticks(values)
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


class _PlainLogFormatter(matplotlib.ticker.LogFormatter):
    # matplotlib's choice of which log ticks to label, written as 0.01, 6, 20 (not 1e-02,
    # 6 x 10^0, 2 x 10^1)
    def _num_to_string(self, x, vmin, vmax):
        return f"{x:g}"


def plain_log_y(ax) -> None:
    """Label a log y axis in plain numbers; on an axis spanning at most two decades some
    minor ticks (e.g. 2, 3, 5) are labelled too, so that it has more than one or two
    labels."""
    ax.yaxis.set_major_formatter(_PlainLogFormatter())
    ax.yaxis.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False,
                                                    minor_thresholds=(2, 0.5)))


def _groups(rows: Sequence[dict], keys: tuple[str, ...]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return {k: sorted(v, key=lambda r: r["m"]) for k, v in sorted(out.items())}


def _positive(values) -> np.ndarray:
    # Log axes cannot show 0: a zero mean or CI bound is drawn at the axis floor.
    return np.maximum(np.asarray(values, dtype=float), 1e-2)


def coincidence_note(ms, best, other, other_name: str) -> str:
    """Where the best model's curve lies on `other`'s, in words for a legend ("" if nowhere).

    The best model switches to the sign-bin model above a width (theory.cascades), so
    its line hides under the sign-bin line there; the legend says so.
    """
    same = [int(m) for m, b, o in zip(ms, best, other, strict=True)
            if np.isclose(b, o, rtol=1e-9, atol=0)]
    if not same:
        return ""
    if len(same) == len(ms):
        return f"same as {other_name} at every m"
    if same == [int(m) for m in ms[len(ms) - len(same):]]:
        return f"same as {other_name} from m = {same[0]}"
    return f"same as {other_name} at m = " + ", ".join(str(m) for m in same)


def figure_e3(rows: Sequence[dict]):
    """Mean polysemantic count vs m per (n, lam, optimizer), with the theory curves.

    The theory depends on (n, m) only: its curves are drawn once per n. Each model has its
    own line style; the best model (dotted, with markers) is drawn on top of the wider
    sign-bin line and of the thin simulated line, so all stay visible where they coincide.
    """
    fig, ax = plt.subplots(figsize=(7.0, 5.4), constrained_layout=True)
    for (n, lam, opt), group in _groups(rows, ("n", "lam", "optimizer")).items():
        m = np.array([r["m"] for r in group])
        label = f"n={n}, λ={lam:g}, {opt}"
        line = ax.plot(
            m,
            _positive([r["sim_mean"] for r in group]),
            marker="o",
            ms=8,
            mfc="white",  # hollow, so that the assignment rule's x shows inside it
            lw=0.8,  # thin: the data lie on the theory lines, which must stay visible
            zorder=4,
            label=f"simulated, window rule ({label})",
        )
        color = line[0].get_color()
        ax.fill_between(
            m,
            _positive([r["sim_ci_low"] for r in group]),
            _positive([r["sim_ci_high"] for r in group]),
            color=color,
            alpha=0.15,
            lw=0,
            zorder=1,
        )
        ax.plot(
            m,
            _positive([r["sim_mean_assignment"] for r in group]),
            ls="none",
            marker="x",
            ms=6,
            color=color,
            zorder=5,
            label="simulated, assignment rule",
        )
    several = len({r["n"] for r in rows}) > 1
    for (n,), group in _groups(rows, ("n",)).items():
        # one point per m (groups of other lam or optimizer repeat the same theory)
        by_m = {r["m"]: r for r in group}
        m = np.array(sorted(by_m))
        exact = [by_m[x]["pred_exact"] for x in m]
        best = [by_m[x]["pred_best"] for x in m]
        grid = np.geomspace(m.min(), m.max(), 200)
        ax.plot(grid, n**2 / (4 * grid), color="k", ls="--", lw=1, zorder=2,
                label="theory: n²/4m (paper)")
        ax.plot(m, exact, color="0.6", lw=3.5, solid_capstyle="round", zorder=2,
                label="theory: exact sign-bin E[X]")
        note = coincidence_note(m, best, exact, "sign-bin")
        prefix = f"n={n}: " if several and note else ""
        ax.plot(m, best, color="tab:red", ls=(0, (1, 1.5)), lw=1.6, marker="D", ms=3.5,
                zorder=4.5, label="theory: best model" + (f" ({prefix}{note})" if note else ""))
    ax.set_xscale("log")
    ax.set_yscale("log")
    label_m_axis(ax, [r["m"] for r in rows])
    plain_log_y(ax)
    ax.set_xlabel("hidden neurons m")
    ax.set_ylabel("polysemantic neurons (mean over instances)")
    ax.set_title("E3: incidental polysemanticity vs width (band: 95% CI of the mean)",
                 fontsize=10)
    _dedupe_legend(ax, below=True)
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
    label_m_axis(right, [r["m"] for r in rows])
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
    label_m_axis(ax, [r["m"] for r in rows])
    plain_log_y(ax)
    ax.set_xlabel("hidden neurons m")
    ax.set_ylabel("polysemantic neurons (mean, window rule)")
    ax.set_title("E5: the count does not depend on λ (band: 95% CI)")
    _dedupe_legend(ax)
    return fig


def _dedupe_legend(ax, below: bool = False) -> None:
    """One legend entry per label; `below`: under the axes, where it hides no data."""
    handles, labels = ax.get_legend_handles_labels()
    seen: dict[str, object] = {}
    for h, label in zip(handles, labels, strict=True):
        seen.setdefault(label, h)
    if below:
        ax.figure.legend(seen.values(), seen.keys(), fontsize=7, ncols=2,
                         loc="outside lower center")
    else:
        ax.legend(seen.values(), seen.keys(), fontsize=7, loc="best")
