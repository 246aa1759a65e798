"""Tests of the collision-fate measurement (docs/preregistration-collision-fate.md).

The set and ratio helpers on hand-worked cases; the bootstrap interval against the
delta-method interval of a ratio estimator; and the claim itself (initial collisions are
mostly not the final polysemantic neurons, yet more often than chance) on fresh
simulations at one small grid point, with a margin derived from the ratio estimator's
standard error.
"""

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from simulations.studies import fate
from tests.helpers import two_sided_z

# False-failure rate of each statistical assertion, and its two-sided z.
FALSE_FAILURE = 1e-6
Z = two_sided_z(FALSE_FAILURE)
# Master seed of the test simulations; not the exploration (1700) or confirmation (7000003) seed.
TEST_SEED = 31_338


def _ratio_se(kept, total) -> float:
    """Delta-method standard error of sum(kept) / sum(total) over i.i.d. instances."""
    kept, total = np.asarray(kept, float), np.asarray(total, float)
    k = kept.size
    ratio = kept.sum() / total.sum()
    resid = kept - ratio * total
    return math.sqrt(np.sum(resid**2) / (k * (k - 1))) / total.mean()


def test_poly_neurons_and_same_features_by_hand():
    neuron = np.array([0, 0, 1, 2, 2, 2])
    sign = np.array([1, -1, 1, 1, 1, -1])
    assert fate.poly_neurons(neuron, sign) == {0, 2}
    start = (np.array([0, 3, 1, 2, 2, 2]), np.array([1, -1, 1, 1, 1, -1]))
    assert not fate.same_features(*start, neuron, sign, 0)  # feature 1 arrived on 0
    assert fate.same_features(*start, neuron, sign, 2)


def test_pooled_fraction_is_the_ratio_of_sums_and_its_interval_matches_the_delta_method():
    rng = np.random.default_rng(0)
    total = rng.poisson(8, size=200) + 1
    kept = rng.binomial(total, 0.3)
    estimate, low, high = fate.pooled_fraction(kept, total, seed=1)
    assert estimate == kept.sum() / total.sum()
    # The BCa half-width and the delta-method 1.96 SE agree to O(1/sqrt(k)) relative
    # (k = 200: about 7%); allow three times that.
    se = _ratio_se(kept, total)
    assert (high - low) / 2 == pytest.approx(1.96 * se, rel=0.2)
    assert low < estimate < high


def test_chance_level_by_hand():
    # |P0| = 4, 2; |PT| = 2, 4; m = 8: chance (4*2 + 2*4) / 8 / 6 = 1/3; kept 1 + 0 -> 1/6.
    assert fate.kept_minus_chance([1, 0], [4, 2], [2, 4], m=8) == pytest.approx(1 / 6 - 1 / 3)


def test_empty_sets_give_nan_not_an_error():
    assert all(math.isnan(x) for x in fate.pooled_fraction([0, 0], [0, 0], seed=0))


def test_initial_collisions_mostly_dissolve_but_more_often_than_chance():
    """The preregistered claims H1 and H2 at n = 128, m = 2n on a test seed.

    K0 = sum kept / sum initial is a ratio estimator; its error is its delta-method SE,
    and the assertions hold with a margin of Z = 4.9 SEs (false-failure rate 1e-6).
    """
    rows = fate.fate_records(TEST_SEED, 128, 256, instances=32)
    assert all(r["converged"] for r in rows)
    kept = [r["init_argmax_kept"] for r in rows]
    total = [r["init_argmax"] for r in rows]
    final = np.array([r["final"] for r in rows], float)
    k0 = sum(kept) / sum(total)
    assert k0 + Z * _ratio_se(kept, total) < 0.5  # H1: not locked in
    excess = np.array(kept) - np.array(total) * final / 256
    assert (excess.sum() / sum(total)) - Z * _ratio_se(excess, total) > 0  # H2: above chance


@pytest.mark.slow
def test_under_the_papers_adamw_the_initial_collisions_carry_far_less_than_under_prox_gd():
    """Amendment H4, as a contrast on the same W0: the excess over chance of the kept
    fraction is larger under prox-gd than under the paper's AdamW.

    Both trainings start from the same W0, so they share the initial set P0 and its size
    t_i; the difference of the two excesses is one ratio estimator of the paired
    per-instance differences over sum t_i, with its delta-method SE. Margin Z = 4.9 SEs.
    (n = 128, m = 2n, 64 instances: about 2 minutes on one core.)
    """
    prox = fate.fate_records(TEST_SEED, 128, 256, instances=64)
    adamw = fate.fate_records(TEST_SEED, 128, 256, instances=64, options=fate.PAPER_ADAMW)
    assert [r["init_argmax"] for r in prox] == [r["init_argmax"] for r in adamw]
    total = np.array([r["init_argmax"] for r in prox], float)

    def excess(rows):
        return np.array([r["init_argmax_kept"] - r["init_argmax"] * r["final"] / 256
                         for r in rows])

    diff = excess(prox) - excess(adamw)
    assert diff.sum() / total.sum() - Z * _ratio_se(diff, total) > 0


def _published(name: str) -> dict:
    """Per-(n, m) columns of a published per-instance CSV under docs/data."""
    path = Path(__file__).resolve().parents[1] / "docs" / "data" / name
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    points = sorted({(int(r["n"]), int(r["m"])) for r in rows})
    return {(n, m): {k: np.array([int(r[k]) for r in rows
                                  if int(r["n"]) == n and int(r["m"]) == m])
                     for k in ("init_argmax_kept", "init_argmax", "cascade_kept", "cascade",
                               "final")}
            for n, m in points}


def test_the_published_collision_fate_conclusions_follow_from_the_published_records():
    """H1-H3 (seed 7000003) and H4 (seed 7000006) as the preregistration states them,
    recomputed from docs/data with the analysis code; one published interval checked
    digit for digit."""
    for (n, m), c in _published("fate_confirm.csv").items():
        assert fate.pooled_fraction(c["init_argmax_kept"], c["init_argmax"], 7000003)[2] < 0.5
        excess = fate.pooled_excess(c["init_argmax_kept"], c["init_argmax"], c["final"], m,
                                     7000003)
        assert excess[1] > 0
        assert fate.pooled_fraction(c["cascade_kept"], c["cascade"], 7000003)[2] < 0.5
        if (n, m) == (256, 512):  # docs: 0.15 [0.14, 0.17]
            k0 = fate.pooled_fraction(c["init_argmax_kept"], c["init_argmax"], 7000003)
            assert [round(x, 2) for x in k0] == [0.15, 0.14, 0.17]
    for (_, m), c in _published("fate_confirm_adamw.csv").items():
        excess = fate.pooled_excess(c["init_argmax_kept"], c["init_argmax"], c["final"], m,
                                     7000006)
        assert excess[2] < 0.08
