"""The report's statistics do what docs/results.md#statistics says, checked by simulation.

Each test draws many synthetic ensembles from a distribution whose answer is known exactly
and checks the property the report claims: the 95% t interval covers the mean 95% of the
time, z has variance 1 under the sign-bin model, the slope interval covers the true slope
95% of the time. Seeds are fixed (deterministic); each assertion states the false-failure
rate it would have with a random seed.
"""

import math

import numpy as np

from simulations import ExperimentSpec
from simulations._report import CI_LEVEL, _t_interval, report_row, slope_fits
from tests.helpers import rng, two_sided_z
from theory import cascades, expected_poly_exact, sd_poly_exact

FFR = 1e-4  # per assertion
Z = two_sided_z(FFR)


def _records(counts):
    """Minimal outcome records (simulations/_run.py) with the given window counts, from runs
    that completed their budget (the report measures only those, _report.exclusion)."""
    return [{"window_count": float(c), "assignment_count": float(c), "composition": [],
             "opposite_sign_pairs": 0, "features_represented": 1, "train_converged": True,
             "train_status": "max_steps",
             "winner_is_init_argmax": 0.0, "train_steps": 1, "init_final_diag": [1.0],
             "init_final_offdiag_std": 0.0} for c in counts]


def _binomial_band(p, reps):
    """Half-width Z * sqrt(p (1 - p) / reps) of an observed frequency around p."""
    return Z * math.sqrt(p * (1 - p) / reps)


def test_t_interval_has_its_nominal_coverage_on_normal_data():
    """For i.i.d. normal values the Student-t interval of the mean covers the true mean with
    probability exactly CI_LEVEL, for any k (here k = 4, where the t quantile matters most).
    The covered fraction of 10000 ensembles is binomial around 0.95 (sd 0.0022). The
    interval is the report's ``_t_interval`` (cheap to call 1e4 times); one report row
    shows that it is what the report prints."""
    k, reps, mu = 4, 10_000, 10.0
    draws = rng(21).normal(mu, 2.0, size=(reps, k))
    covered = 0
    for values in draws:
        _, low, high = _t_interval(values)
        covered += low <= mu <= high
    assert abs(covered / reps - CI_LEVEL) <= _binomial_band(CI_LEVEL, reps), covered / reps
    row = report_row(ExperimentSpec(n=8, m=32, lam=1e-2, instances=k), _records(draws[0]))
    assert (row["sim_mean"], row["sim_ci_low"], row["sim_ci_high"]) == _t_interval(draws[0])


def _sign_bin_counts(n, m, size, gen):
    """Polysemantic counts of the sign-bin model itself: uniform (neuron, sign) per feature."""
    bins = 2 * gen.integers(m, size=(size, n)) + gen.integers(2, size=(size, n))
    occupied = np.zeros((size, 2 * m), dtype=bool)
    occupied[np.arange(size)[:, None], bins] = True
    return (occupied[:, 0::2] & occupied[:, 1::2]).sum(axis=1)


def test_z_is_standardised_under_the_sign_bin_model():
    """Ensembles of k counts drawn from the sign-bin model: z = (mean - E X)/(SD X / sqrt k)
    has mean 0 and variance exactly 1 (Var of a mean of k i.i.d. counts is Var X / k; E X and
    Var X exact, docs/theory/collisions.md#variance). Over 1000 ensembles the sample mean has
    sd 1/sqrt(1000); the sample variance's sd comes from the sample fourth moment."""
    n, m, k, reps = 32, 64, 8, 1000
    spec = ExperimentSpec(n=n, m=m, lam=1e-2, instances=k)
    counts = _sign_bin_counts(n, m, reps * k, rng(22)).reshape(reps, k)
    z = np.array([report_row(spec, _records(c))["z_exact"] for c in counts])
    assert abs(z.mean()) <= Z / math.sqrt(reps), z.mean()
    mu4 = np.mean((z - z.mean()) ** 4)
    se_var = math.sqrt((mu4 - 1.0) / reps)
    assert abs(z.var(ddof=1) - 1.0) <= Z * se_var, (z.var(ddof=1), se_var)
    # the report's own prediction is the exact model's
    row = report_row(spec, _records(counts[0]))
    assert row["pred_exact"] == expected_poly_exact(n, m)
    assert row["pred_exact_sd"] == sd_poly_exact(n, m)


def test_z_best_is_standardised_under_the_cascade_model():
    """Ensembles of k counts drawn from the cascade model itself (a seed other than the
    model's): z_best = (mean - E_mc) / sqrt(SD_mc^2 / k + SE_mc^2) has variance about 1
    and mean about 0. The model's Monte Carlo mean E_mc is off the true mean by one shared
    offset of sd SE_mc, so the mean of z over ensembles is normal with variance
    SE_mc^2 / (SD^2/k + SE_mc^2) + 1/reps; the variance of z is checked as above with the
    sample fourth moment (the SD_mc error is a relative sd/sqrt(2N) = 1.1%, inside it).
    docs/theory/cascades.md#monte-carlo"""
    n, m, k, reps = 8, 8, 8, 600
    assert cascades.best_model_name(n, m) == cascades.MODEL_NAME
    spec = ExperimentSpec(n=n, m=m, lam=1e-2, instances=k)
    draws = cascades.sample_poly_cascade(n, m, reps * k, seed=99).reshape(reps, k)
    rows = [report_row(spec, _records(c)) for c in draws]
    z = np.array([r["z_best"] for r in rows])
    best = cascades.best_moments(n, m)
    offset_var = best["se_mean"] ** 2 / (best["sd"] ** 2 / k + best["se_mean"] ** 2)
    assert abs(z.mean()) <= Z * math.sqrt(offset_var + 1 / reps), z.mean()
    mu4 = np.mean((z - z.mean()) ** 4)
    se_var = math.sqrt((mu4 - 1.0) / reps)
    assert abs(z.var(ddof=1) - 1.0) <= Z * se_var, (z.var(ddof=1), se_var)
    assert rows[0]["pred_best"] == best["mean"] and rows[0]["model_best"] == best["model"]


def test_predictor_columns_average_the_measured_runs_only():
    """Predictor scores are means over measured runs; runs without scores (other
    optimizers, or records stored before the scores existed) give NaN, not 0."""
    spec = ExperimentSpec(n=8, m=16, lam=1e-2, instances=3)
    records = _records([1, 2, 3])
    for r, acc in zip(records, (0.5, 0.75, 1.0), strict=True):
        r.update(predictor_feature_accuracy=acc, predictor_poly_precision=None,
                 predictor_poly_recall=1.0)
    records[2]["train_status"] = "diverged"  # excluded: its 1.0 must not count
    row = report_row(spec, records)
    assert row["predictor_accuracy"] == 0.625 and row["predictor_recall"] == 1.0
    assert math.isnan(row["predictor_precision"]) and math.isnan(row["init_argmax_accuracy"])


def test_slope_interval_has_its_nominal_coverage():
    """Rows whose log mean count is normal around log(C m^-1) with exactly the delta-method
    variance s^2 / (k mean^2) that the report assigns (s set from the draw so that this
    holds): the weighted least-squares slope is then exactly normal with the reported
    standard error, so its 95% interval covers -1 with probability 0.95. The fraction over
    2000 fits is binomial (sd 0.0049)."""
    k, reps, ms = 16, 2000, np.array([128, 256, 512, 1024, 2048])
    v = np.array([0.04, 0.03, 0.05, 0.02, 0.06])  # Var log mean per row
    gen = rng(23)
    covered = 0
    for _ in range(reps):
        y = np.log(400.0 / ms) + gen.normal(0.0, np.sqrt(v))
        mean = np.exp(y)
        rows = [{"n": 32, "m": int(mm), "lam": 1e-2, "optimizer": "prox-gd",
                 "measured_instances": k, "sim_mean": float(mu),
                 "sim_sd": float(math.sqrt(vv * k) * mu), "pred_exact_sd": 0.0,
                 "pred_exact": float(400.0 / mm)}
                for mm, mu, vv in zip(ms, mean, v, strict=True)]
        (fit,) = slope_fits(rows)
        covered += fit["slope_ci_low"] <= -1.0 <= fit["slope_ci_high"]
    assert abs(covered / reps - CI_LEVEL) <= _binomial_band(CI_LEVEL, reps), covered / reps
