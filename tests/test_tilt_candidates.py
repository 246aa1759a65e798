"""Tests of the candidate tilt laws (simulations/studies/tilt_candidates.py,
docs/theory/tilted-occupancy.md#what-else-was-tried).

Exact limits only: the onset clip (D6 is the tilted law T7 for n <= 64), the nesting of
D6 in E2, the vanishing of the crowding push as m/n grows, the mean positive overlap
behind K_EV and the pressure Lambda (a symbolic integral), and the fit recovering a
known constant from points that lie exactly on the law.
"""

import math

import pytest
import sympy as sp

from simulations.studies import tilt_candidates as TC
from theory import tilted_occupancy as T

LAM = 1e-2


def _law(name):
    return TC.CANDIDATES[name][0]


@pytest.mark.parametrize("n,m", [(4, 8), (16, 16), (32, 64), (64, 64), (64, 512)])
def test_d6_is_the_tilted_law_up_to_the_onset(n, m):
    theta = 0.05
    assert _law("D6")(n, m, LAM, [theta]) == _law("T0")(n, m, LAM, [theta])
    assert _law("T0")(n, m, LAM, [theta]) == pytest.approx(T.log_tilt(m, LAM, theta), rel=1e-15)


@pytest.mark.parametrize("n,m", [(65, 65), (128, 128), (256, 512), (384, 3072)])
def test_d6_is_e2_at_n0_64(n, m):
    theta = 0.05
    assert _law("E2")(n, m, LAM, [theta, math.log(64.0)]) == pytest.approx(
        _law("D6")(n, m, LAM, [theta]), abs=1e-14)
    push = _law("D6")(n, m, LAM, [theta]) - _law("T0")(n, m, LAM, [theta])
    assert push == pytest.approx((n / m) * math.log(n / 64) / math.sqrt(2 * math.pi), rel=1e-12)


def test_crowding_push_vanishes_as_m_over_n_grows():
    n, theta = 256, 0.05
    pushes = [_law("D6")(n, m, LAM, [theta]) - _law("T0")(n, m, LAM, [theta])
              for m in (256, 1024, 4096, 16384)]
    assert all(a > b > 0 for a, b in zip(pushes, pushes[1:], strict=False))
    assert pushes[-1] * 16384 / n == pytest.approx(math.log(4) / math.sqrt(2 * math.pi))


def test_mean_positive_overlap_is_the_ev_slope():
    # E[G^+] for G ~ N(0, 1/m) is 1/sqrt(2 pi m): sqrt(m) E[G^+] = K_EV, and the pressure
    # Lambda is (n - 1) times it.
    g, m = sp.symbols("g m", positive=True)
    s = 1 / sp.sqrt(m)
    mean_pos = sp.integrate(g * sp.exp(-g**2 / (2 * s**2)) / (s * sp.sqrt(2 * sp.pi)),
                            (g, 0, sp.oo))
    assert sp.simplify(mean_pos * sp.sqrt(m) - 1 / sp.sqrt(2 * sp.pi)) == 0
    assert float(1 / sp.sqrt(2 * sp.pi)) == pytest.approx(TC.K_EV, rel=1e-15)
    for n, mm in ((64, 64), (256, 512)):
        assert TC.pressure(n, mm) == pytest.approx(
            (n - 1) * float(mean_pos.subs(m, mm)), rel=1e-12)


def test_fit_recovers_a_constant_from_exact_points():
    theta = 0.045
    pts = []
    for n, m in ((16, 16), (16, 32), (32, 32), (32, 128)):
        mo = T.tilted_moments(n, m, _law("T0")(n, m, LAM, [theta]))
        pts.append({"n": n, "m": m, "lam": LAM, "k": 16, "mean": mo["mean"]})
    c, cov, chi2, dof = TC.fit(_law("T0"), [0.02], pts)
    assert c[0] == pytest.approx(theta, abs=1e-5)
    assert chi2 < 1e-8 and dof == 3 and cov[0, 0] > 0
