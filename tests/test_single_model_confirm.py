"""The preregistered analysis of the single-model confirmation
(simulations.studies.single_model_confirm, docs/preregistration-single-model.md), on
counts drawn from the tilted law itself and on the same counts shifted by one neuron."""

import numpy as np

from simulations.studies import single_model_confirm as C
from theory import tilted_occupancy as tilted

N, LAM, K = 8, 1e-2, 400
M = (8, 16)


def _draws(m: int, seed: int) -> list[int]:
    """K counts from P(X = f) ∝ N(f) w^f (eq. T3) at the model's own tilt."""
    f, ln_count = tilted.count_weights(N, m)
    ln_p = ln_count + tilted.log_tilt(m, LAM) * f
    p = np.exp(ln_p - ln_p.max())
    rng = np.random.default_rng([seed, m])
    return rng.choice(f, size=K, p=p / p.sum()).tolist()


def test_counts_from_the_model_pass_and_a_one_neuron_shift_fails():
    """Under the model each z is a standard normal at most (its SD and SE_theta in the
    denominator): |z| > Z_BONFERRONI = 3.38 has probability 7e-4 per point, so C2 holds
    but for a 1.5e-3 false-failure rate over the two points. One neuron more at every run
    moves the mean by 1, about 20 standard errors of a 400-run mean (SD ~1): C2 fails."""
    points = {(N, m, LAM): dict(enumerate(_draws(m, 11))) for m in M}
    a = C.analyse(points, cascade=False)
    assert a["tilted"]["C2"] and not a["missing"], a["tilted"]
    shifted = {key: {i: x + 1 for i, x in counts.items()} for key, counts in points.items()}
    b = C.analyse(shifted, cascade=False)
    assert not b["tilted"]["C2"] and b["tilted"]["misses"] == len(M)


def test_a_point_with_too_few_converged_runs_is_missing():
    points = {(N, 8, LAM): dict(enumerate(_draws(8, 3)[: C.MIN_RUNS - 1]))}
    a = C.analyse(points, cascade=False)
    assert a["rows"] == [] and a["missing"] == [{"n": N, "m": 8, "lam": LAM,
                                                  "k": C.MIN_RUNS - 1}]
