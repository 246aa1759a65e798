"""The main job's figures are readable: m ticks at the data's m, every theory line
distinguishable from the others, legends without file names or doc anchors."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from simulations import paper_settings
from simulations._compare_figures import (
    coincidence_note,
    figure_e3,
    figure_e4,
    figure_e5,
    m_ticks,
)
from theory import collisions

QUICK_M = [64, 128, 256, 512, 1024]  # the quick preset
E3_M = list(range(256, 4097, 256))  # the paper's grid


def _best(n, m):
    # stands in for theory.cascades.expected_poly_best (whose cascade model takes a minute
    # at n = 256): another model below m = 1.5 n, the sign-bin model from there on
    if m < 1.5 * n:
        return n**2 / (4 * m)
    return float(collisions.expected_poly_exact(n, m))


def _rows(n, ms, lams=(1e-2,)):
    rows = []
    for lam in lams:
        for m in ms:
            exact = float(collisions.expected_poly_exact(n, m))
            rows.append({"n": n, "m": m, "lam": lam, "optimizer": "prox-gd", "sim_mean": exact,
                         "sim_ci_low": 0.8 * exact, "sim_ci_high": 1.2 * exact,
                         "sim_mean_assignment": exact, "pred_exact": exact,
                         "pred_best": _best(n, m),
                         "init_final_diag_mean": 0.5, "init_final_offdiag_std": 0.1})
    return rows


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_m_ticks_label_every_m_when_few_and_powers_of_two_when_many():
    assert m_ticks(QUICK_M) == QUICK_M
    assert m_ticks(E3_M) == [256, 512, 1024, 2048, 4096]
    many = m_ticks(range(100, 1001, 50))  # no powers of two among them
    assert len(many) <= 8 and many[0] == 100 and many[-1] == 1000
    # neighbours too close on a log axis are dropped, the ends are kept
    assert m_ticks([10, 11, 12, 100, 1000]) == [10, 100, 1000]


def test_coincidence_note():
    assert coincidence_note([1, 2, 3], [5, 2, 1], [4, 2, 1], "sign-bin") == (
        "same as sign-bin from m = 2")
    assert coincidence_note([1, 2], [1, 2], [1, 2], "x") == "same as x at every m"
    assert coincidence_note([1, 2, 3], [1, 0, 3], [1, 2, 3], "x") == "same as x at m = 1, 3"
    assert coincidence_note([1, 2], [1, 2], [3, 4], "x") == ""


def _legend_texts(fig):
    return [t.get_text() for legend in [*fig.legends, *(ax.get_legend() for ax in fig.axes)]
            if legend is not None for t in legend.get_texts()]


def _labelled_m(ax):
    fig = ax.figure
    fig.canvas.draw()
    major = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    minor = [t.get_text() for t in ax.get_xticklabels(minor=True) if t.get_text()]
    return major, minor


@pytest.mark.parametrize(("n", "ms", "first"), [(64, QUICK_M, 128), (256, E3_M, 512)])
def test_e3_ticks_lines_and_legend(n, ms, first):
    fig = figure_e3(_rows(n, ms, lams=(1e-3, 1e-2)))
    (ax,) = fig.axes
    major, minor = _labelled_m(ax)
    assert major == [str(m) for m in m_ticks(ms)] and minor == []
    texts = _legend_texts(fig)
    assert not [t for t in texts if ".md" in t or "#" in t or ".py" in t], texts
    lines = {line.get_label(): line for line in ax.get_lines()}
    sign_bin = lines["theory: exact sign-bin E[X]"]
    (best_label,) = [k for k in lines if k.startswith("theory: best model")]
    best = lines[best_label]
    assert best_label == f"theory: best model (same as sign-bin from m = {first})"
    # visible where they coincide: drawn above, narrower, another style, with markers
    assert best.get_zorder() > sign_bin.get_zorder()
    assert best.get_linewidth() < sign_bin.get_linewidth()
    assert best.get_linestyle() != sign_bin.get_linestyle()
    assert best.get_marker() not in ("None", "", None)
    # the theory is drawn once, not once per lam
    assert sum(k.startswith("theory") for k in (line.get_label() for line in ax.get_lines())) == 3


def test_e4_and_e5_ticks_at_the_data_m():
    rows = _rows(64, QUICK_M, lams=(1e-3, 1e-2))
    fig = figure_e5(rows)
    assert _labelled_m(fig.axes[0]) == ([str(m) for m in QUICK_M], [])
    fig = figure_e4(np.eye(4), rows, "label")
    assert _labelled_m(fig.axes[1]) == ([str(m) for m in QUICK_M], [])


def test_paper_settings_e3_ticks_and_lines():
    rows = [{"m": m, "mean": 10.0, "ci_low": 9.0, "ci_high": 11.0, "flow": {"k": 0},
             "first_order": 256**2 / (4 * m),
             "pred_sign_bin": float(collisions.expected_poly_exact(256, m)),
             "pred_best": _best(256, m)} for m in E3_M]
    fig = paper_settings.figure_e3({"e3": rows})
    ax = fig.axes[0]
    assert _labelled_m(ax) == (["256", "512", "1024", "2048", "4096"], [])
    texts = _legend_texts(fig)
    assert "best model (theory.best_model; same as sign-bin from m = 512)" in texts
    assert not [t for t in texts if ".md" in t or "#" in t], texts
