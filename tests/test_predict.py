"""Tests of the per-instance predictor.

simulations.predict, docs/theory/cascades.md#per-instance-predictor.
"""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from dynamics import TrainOptions, init_weights, train
from simulations.predict import fast_phase_steps, init_argmax, predict_instance, score_prediction
from tests.helpers import two_sided_z

# One-sided false-failure rate of the accuracy floors.
FALSE_FAILURE = 1e-6
Z = two_sided_z(2 * FALSE_FAILURE)
TRAIN = dict(optimizer="prox-gd", lr=0.05, lam=1e-2, tol=1e-6, max_steps=50_000)
# Size of the accuracy check and the predictor's documented accuracy there, measured on
# 256 exploration instances (master seed 1200; docs/theory/cascades.md#per-instance-predictor):
# pooled feature accuracy P_DOC of the predictor, P_BASE of the init-argmax baseline, and
# the design effect DEFF = (variance of the per-instance accuracy) / (p(1-p)/n), i.e. how
# much the features of one instance co-vary (cascades move them together); and the mean
# D_DOC and per-instance SD SD_DIFF of the paired accuracy difference predictor - baseline.
# Records: docs/data/cascades_predictor_small.csv.
N, M, INSTANCES = 16, 64, 24
P_DOC, DEFF = 0.780, 1.014
D_DOC, SD_DIFF = 0.146, 0.103
TEST_SEED = 31_337


def _trained(n, m, k):
    seeds = np.random.SeedSequence([TEST_SEED, n, m]).spawn(k)
    W0 = init_weights(n, m, seeds)
    records = train(W0, TrainOptions(record_weights=True, **TRAIN))
    assert all(r.converged for r in records)
    return W0, [r.W for r in records]


def test_predictor_accuracy_floor_against_engine():
    """Pooled feature accuracy at n = 16, m = 64 over 24 fresh instances (384 features).

    Floor: P_DOC - Z sqrt(DEFF P_DOC (1 - P_DOC) / (k n)), the binomial standard error of a
    pooled proportion inflated by the documented design effect; one-sided rate 1e-6.
    The gain over the init-argmax baseline must exceed D_DOC - Z SD_DIFF / sqrt(k), the
    paired per-instance difference's documented mean less Z standard errors (> 0 here).
    """
    W0, W = _trained(N, M, INSTANCES)
    pred = np.mean([score_prediction(predict_instance(w0), w)["feature_accuracy"]
                    for w0, w in zip(W0, W, strict=True)])
    base = np.mean([score_prediction(init_argmax(w0), w)["feature_accuracy"]
                    for w0, w in zip(W0, W, strict=True)])
    se_pred = math.sqrt(DEFF * P_DOC * (1 - P_DOC) / (INSTANCES * N))
    assert pred > P_DOC - Z * se_pred, (pred, P_DOC, se_pred)
    gain_floor = D_DOC - Z * SD_DIFF / math.sqrt(INSTANCES)
    assert gain_floor > 0
    assert pred - base > gain_floor, (pred, base, gain_floor)


def test_prediction_shapes_and_poly_set():
    W0 = init_weights(12, 20, np.random.SeedSequence(7).spawn(1))[0]
    neuron, sign, poly = predict_instance(W0)
    assert neuron.shape == (12,) and sign.shape == (12,)
    assert set(np.unique(sign)) <= {-1, 1}
    # one feature per (neuron, sign); poly = neurons with both signs
    assert len(set(zip(neuron.tolist(), sign.tolist(), strict=True))) == 12
    both = sorted(set(neuron[sign > 0].tolist()) & set(neuron[sign < 0].tolist()))
    assert poly == both


def test_score_of_the_truth_is_perfect():
    """Scoring the final assignment of a trained instance against itself gives 1, 1, 1."""
    from dynamics import assign_features

    W0, W = _trained(8, 8, 1)
    neuron, sign = assign_features(W[0])
    poly = sorted(set(neuron[sign > 0].tolist()) & set(neuron[sign < 0].tolist()))
    score = score_prediction((neuron, sign, poly), W[0])
    assert score["feature_accuracy"] == 1.0
    if poly:
        assert score["poly_precision"] == 1.0 and score["poly_recall"] == 1.0


def test_fast_phase_is_one_code_time_unit():
    assert fast_phase_steps(0.05) == 20 and fast_phase_steps(0.1) == 10


@pytest.mark.parametrize("kwargs, match",
                         [({"lr": 0.3}, "lr must be"), ({"lam": -1.0}, "lam must")])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        predict_instance(np.ones((2, 3)), **kwargs)


def test_cli_json(tmp_path):
    W0 = init_weights(6, 12, np.random.SeedSequence(3).spawn(1))[0]
    path = tmp_path / "w0.npy"
    np.save(path, W0)
    out = subprocess.run([sys.executable, "-m", "simulations.predict", "--init", str(path),
                          "--json"], capture_output=True, text=True, check=True).stdout
    data = json.loads(out)
    neuron, sign, poly = predict_instance(W0)
    assert data["neuron"] == neuron.tolist() and data["sign"] == sign.tolist()
    assert data["poly_neurons"] == poly


def test_cli_bad_path_is_one_line(tmp_path):
    res = subprocess.run([sys.executable, "-m", "simulations.predict", "--init",
                          str(tmp_path / "missing.npy")], capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "--init" in res.stderr
