"""Mutation check: apply plausible bugs one at a time and show that the default suite fails.

    python -m tests.mutants [--list] [--only NAME ...] [--tests PATH ...] [--json] [--keep]

Each mutant is a named record of one or more exact text edits (file, old snippet, new
snippet) applied together, with one line on why the bug is plausible. For every mutant the
tool copies the repository (without .git, caches, results and site) to a temporary
directory, applies the edits there, checks that the copy's packages are the ones imported,
and runs the default suite in the copy (``python -m pytest -x -q -p no:cacheprovider``,
cwd = the copy, PYTHONPATH = the copy). The working tree is never modified.

Verdict rule (docs/testing.md#mutation-check):
    killed    pytest exit code 1: at least one test failed or errored while running;
    survived  exit code 0: the whole default suite passed with the bug in place;
    error     anything else (collection error, import error, usage error, timeout, a
              mutated file that no longer compiles). An error is never counted as a kill:
              a mutant must be importable and reach the assertions to count.

Each mutant names the test files most likely to fail (``first``); pytest gets every test
file of the default suite explicitly, those first, so that ``-x`` stops early. The set of
tests is the default suite whatever the order (checked by ``--collect-check``).
The score is killed / total. Exit status: 0 if every mutant was killed, 1 otherwise,
2 if the unmutated copy does not pass (then no verdict means anything).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Never copied into the mutant's tree: VCS data, caches (stale bytecode or numba caches
# would hide the edit), and generated output.
IGNORED = (".git", "__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache", "results",
           "site", "*.egg-info", "*.pyc", "*.nbi", "*.nbc")
PYTEST = ("-m", "pytest", "-x", "-q", "-p", "no:cacheprovider")
TIMEOUT_S = 1800  # one suite run; the default suite must stay under 5 minutes idle


@dataclass(frozen=True)
class Edit:
    """Replace the unique occurrence of ``old`` in ``path`` (relative to the repo) by ``new``."""

    path: str
    old: str
    new: str


@dataclass(frozen=True)
class Mutant:
    """A named plausible bug: edits applied together, and why someone could write it."""

    name: str
    category: str
    change: str  # what it changes, one line (the docs table)
    why: str  # why the bug is plausible, one line
    edits: tuple[Edit, ...]
    first: tuple[str, ...] = field(default=())  # test files to run first (ordering only)


K = "dynamics/_training_kernels.py"
T = "dynamics/_toy_model.py"

MUTANTS: tuple[Mutant, ...] = (
    # ---------------------------------------------------------------- collisions
    Mutant(
        "collision-mean-stable-form",
        "collision mean",
        "drops the e^{2x} factor in the cancellation-free P(neuron polysemantic), eq. (13)",
        "an algebra slip when rewriting eq. (5) with expm1/log1p",
        (Edit("theory/collisions.py",
              "p1_stable = expm1(x) ** 2 + sp.exp(2 * x) * expm1(n * log1p(-r2))",
              "p1_stable = expm1(x) ** 2 + expm1(n * log1p(-r2))"),),
        ("tests/test_collisions.py",),
    ),
    Mutant(
        "collision-variance-m-squared",
        "collision variance",
        "m^2 instead of m(m-1) ordered neuron pairs in Var X, eq. (9)",
        "counting pairs of neurons with replacement",
        (Edit("theory/collisions.py",
              "var = mm * p1 * (1 - p1) + mm * (mm - 1) * _covariance(nn, mm, p1)",
              "var = mm * p1 * (1 - p1) + mm * mm * _covariance(nn, mm, p1)"),),
        ("tests/test_collisions.py",),
    ),
    Mutant(
        "first-order-n2-over-2m",
        "collision mean",
        "n^2/(2m) instead of n^2/(4m) for the paper's first-order estimate",
        "counts every colliding pair, not the benign (opposite-sign) half; the authors' "
        "notebook tried it",
        (Edit("theory/collisions.py", "return _out(nn * nn / (4 * mm))",
              "return _out(nn * nn / (2 * mm))"),),
        ("tests/test_collisions.py",),
    ),
    # ---------------------------------------------------------------- sparsification
    Mutant(
        "refined-law-2-lam-r",
        "sparsification law",
        "d(1/l1)/dt = 2 lam r instead of lam r in the refined law, eq. (14)",
        "a factor 2 from the two-sided derivative of ||w||^2 carried into the l1 law",
        (Edit("theory/sparsification.py",
              "inv_l1 = 1.0 / math.sqrt(2 * m_value / math.pi) + lam_value * int_r",
              "inv_l1 = 1.0 / math.sqrt(2 * m_value / math.pi) + 2 * lam_value * int_r"),),
        ("tests/test_sparsification_laws.py",),
    ),
    Mutant(
        "relative-variance-plus-one",
        "sparsification law",
        "mean field returns 1 + r instead of r = G0 G2 / G1^2 - 1, eq. (11)",
        "E[X^2]/E[X]^2 and Var/E^2 differ by exactly 1",
        (Edit("theory/sparsification.py",
              "r = np.where(g1 > 0, g0 * g2 / np.where(g1 > 0, g1, 1.0) ** 2 - 1.0, 1.0)",
              "r = np.where(g1 > 0, g0 * g2 / np.where(g1 > 0, g1, 1.0) ** 2, 1.0)"),),
        ("tests/test_sparsification_laws.py", "tests/test_sparsification_theory.py"),
    ),
    Mutant(
        "mean-field-cut-speed-units",
        "sparsification law",
        "dgamma/dt = lam sqrt(m) sigma_0 e^{-A} instead of lam sqrt(m) / sigma_0 e^{-A}, eq. (10)",
        "inverting the unit conversion gamma = c sqrt(m) / sigma_0",
        (Edit("theory/sparsification.py",
              "k = lam_value * math.sqrt(m_value) / sigma0_value",
              "k = lam_value * math.sqrt(m_value) * sigma0_value"),),
        ("tests/test_sparsification_compare.py",),
    ),
    Mutant(
        "t-full-correction-half-log",
        "t_full",
        "(1/2) ln(S(0)/S(x_(2))) instead of (1/4) ln(...) in the corrected t_full, eq. (19)",
        "the log of a norm vs the log of a squared norm",
        (Edit("theory/sparsification.py", "return t_ad - 0.25 * math.log(q0 / s_end)",
              "return t_ad - 0.5 * math.log(q0 / s_end)"),),
        ("tests/test_sparsification_compare.py",),
    ),
    Mutant(
        "t-full-distribution-isf-u",
        "t_full",
        "half-normal order statistics drawn as Phi^-1(1 - U) instead of Phi^-1(1 - U/2), eq. (18)",
        "the normal quantile used for the half-normal",
        (Edit("theory/sparsification.py", "x = scale * stats.norm.isf(uu / 2)  # descending",
              "x = scale * stats.norm.isf(uu)  # descending"),),
        ("tests/test_sparsification_laws.py",),
    ),
    # ---------------------------------------------------------------- noise
    Mutant(
        "noise-bernoulli-leak-no-half",
        "noise leak",
        "1-sparse Bernoulli leak (s - c)^2 instead of (s - c)^2 / 2, eq. (9)",
        "forgetting that the noise is +sigma only half of the time",
        (Edit("theory/noise.py",
              "leak_bern = sp.Piecewise(((s - c) ** 2 / 2, c < s), (0, True))",
              "leak_bern = sp.Piecewise(((s - c) ** 2, c < s), (0, True))"),),
        ("tests/test_noise_theory.py",),
    ),
    Mutant(
        "noise-laplace-scale",
        "noise leak",
        "Laplace scale b = s instead of s / sqrt(2) in the 1-sparse Laplace leak, eq. (9)",
        "a Laplace of scale b has variance 2 b^2, not b^2",
        (Edit("theory/noise.py", "b = s / sp.sqrt(2)  # Laplace scale with variance s^2",
              "b = s  # Laplace scale with variance s^2"),),
        ("tests/test_noise_theory.py",),
    ),
    Mutant(
        "noise-edgeworth-coefficient",
        "noise leak",
        "Edgeworth density phi [1 + kappa/12 He_4] instead of kappa/24, eq. (5)",
        "the 1/4! of the fourth-cumulant term",
        (Edit("theory/noise.py", "corr = sp.simplify(kappa / 24 * tail(",
              "corr = sp.simplify(kappa / 12 * tail("),),
        ("tests/test_noise_theory.py",),
    ),
    # ---------------------------------------------------------------- gradient, prox
    Mutant(
        "gradient-factor-2",
        "gradient",
        "smooth gradient 2 R W instead of 4 R W, in the kernel and the numpy reference (T2)",
        "forgetting that each off-diagonal pair appears twice in the loss",
        (Edit(K, "sse = _residual_and_sse(G, R, 4.0)", "sse = _residual_and_sse(G, R, 2.0)"),
         Edit(T, "return 4.0 * residual_matrix(W @ W.T) @ W",
              "return 2.0 * residual_matrix(W @ W.T) @ W")),
        ("tests/test_toy_model.py",),
    ),
    Mutant(
        "gradient-without-relu-gate",
        "gradient",
        "R_ij = G_ij off the diagonal also when G_ij <= 0 (no ReLU derivative), kernel and "
        "reference (T2)",
        "the gradient of the linear autoencoder's loss",
        (Edit(K, "            R[i, j] = scale * r\n            R[j, i] = scale * r",
              "            R[i, j] = scale * g\n            R[j, i] = scale * g"),
         Edit(T, "return np.where(G > 0.0, G - np.eye(n), 0.0)",
              "return np.where((G > 0.0) | (np.eye(n) == 0), G - np.eye(n), 0.0)")),
        ("tests/test_toy_model.py",),
    ),
    Mutant(
        "soft-threshold-without-abs",
        "soft-threshold",
        "soft(x, t) = sign(x) max(x - t, 0) instead of max(|x| - t, 0), kernel and reference",
        "a soft-threshold written with positive weights in mind",
        (Edit(K, "a = abs(x) - threshold", "a = x - threshold"),
         Edit(T, "np.maximum(np.abs(X) - threshold, 0.0)", "np.maximum(X - threshold, 0.0)")),
        ("tests/test_toy_model.py",),
    ),
    Mutant(
        "prox-threshold-without-lr",
        "soft-threshold",
        "prox step thresholds at lam instead of lr * lam, kernel and reference (T5a)",
        "the prox of lr lam ||.||_1 confused with the prox of lam ||.||_1",
        (Edit(K, "    thr = lr * lam\n    res2 = 0.0\n", "    thr = lam\n    res2 = 0.0\n"),
         Edit(T, "return soft_threshold(W - lr * smooth_gradient(W), lr * lam)",
              "return soft_threshold(W - lr * smooth_gradient(W), lam)")),
        ("tests/test_training_kernels.py",),
    ),
    Mutant(
        "sign-of-zero-is-one",
        "soft-threshold",
        "the kernel's sign(0) = 1 instead of 0 (subgradient of |w| at 0)",
        "sign written as copysign(1, x) or (x >= 0) - (x < 0); PyTorch has sign(0) = 0",
        (Edit(K, "return (x > 0.0) * 1.0 - (x < 0.0) * 1.0",
              "return (x >= 0.0) * 1.0 - (x < 0.0) * 1.0"),
         Edit(K, "(-lam_ if w < zero else zero)", "(-lam_ if w < zero else lam_)")),
        ("tests/test_adamw_fixture.py", "tests/test_training_kernels.py"),
    ),
    # ---------------------------------------------------------------- AdamW
    Mutant(
        "adamw-eps-inside-sqrt",
        "AdamW",
        "sqrt(v_hat + eps) instead of sqrt(v_hat) + eps, kernel and reference",
        "the eps placement of some other Adam variants (e.g. RMSProp-style code)",
        (Edit(K, "W[i, k] = w - step_size * (mk / (np.sqrt(vk) / bc2_sqrt + eps_))",
              "W[i, k] = w - step_size * (mk / np.sqrt(vk / (bc2_sqrt * bc2_sqrt) + eps_))"),
         Edit(T, "theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)",
              "theta = theta - lr * m_hat / np.sqrt(v_hat + eps)")),
        ("tests/test_adamw_fixture.py",),
    ),
    Mutant(
        "adamw-bias-correction-no-sqrt",
        "AdamW",
        "sqrt(v) divided by (1 - beta2^t) instead of sqrt(1 - beta2^t), kernel and reference",
        "the second moment's correction applied after the square root",
        (Edit(K, "c[5] = np.sqrt(1.0 - beta2**t)", "c[5] = 1.0 - beta2**t"),
         Edit(T, "v_hat = v / (1.0 - beta2**step)", "v_hat = v / (1.0 - beta2**step) ** 2")),
        ("tests/test_adamw_fixture.py",),
    ),
    Mutant(
        "adamw-no-first-moment-correction",
        "AdamW",
        "no bias correction of the first moment (m_hat = m), kernel and reference",
        "Adam as first described in some tutorials, without 1/(1 - beta1^t)",
        (Edit(K, "c[4] = lr / (1.0 - beta1**t)", "c[4] = lr"),
         Edit(T, "m_hat = m / (1.0 - beta1**step)", "m_hat = m")),
        ("tests/test_adamw_fixture.py",),
    ),
    Mutant(
        "adamw-coupled-weight-decay",
        "AdamW",
        "L2 decay added to the gradient (Adam's weight_decay) instead of AdamW's decoupled "
        "decay, kernel and reference",
        "torch.optim.Adam(weight_decay=...) and AdamW differ only here",
        (Edit(K, "(-lam_ if w < zero else zero))\n                w = w * decay\n",
              "(-lam_ if w < zero else zero)) + wd * w\n"),
         Edit(T, "g = smooth_gradient(W) + lam * np.sign(W)\n    theta = W - lr * weight_decay * W",
              "g = smooth_gradient(W) + lam * np.sign(W) + weight_decay * W\n    theta = W")),
        ("tests/test_adamw_fixture.py",),
    ),
    # ---------------------------------------------------------------- counting rules
    Mutant(
        "window-edges-exclusive",
        "counting rules",
        "window hits 0.8 < |w| < 1.2 instead of 0.8 <= |w| <= 1.2",
        "strict comparisons where the authors' code uses inclusive ones",
        (Edit("dynamics/_measurements.py", "hits = (absW >= low) & (absW <= high)",
              "hits = (absW > low) & (absW < high)"),),
        ("tests/test_measurements.py",),
    ),
    Mutant(
        "assignment-count-more-than-two",
        "counting rules",
        "a neuron is polysemantic with > 2 dominated features instead of >= 2",
        "an off-by-one in 'more than one feature'",
        (Edit("dynamics/_measurements.py",
              "return int(np.count_nonzero(_feature_counts(neuron, W.shape[1]) >= 2))",
              "return int(np.count_nonzero(_feature_counts(neuron, W.shape[1]) > 2))"),),
        ("tests/test_measurements.py",),
    ),
    Mutant(
        "opposite-sign-pairs-any-mix",
        "counting rules",
        "a polysemantic neuron counts as an opposite-sign pair with >= 1 feature of each sign",
        "testing 'has both signs' instead of 'is exactly one + and one -'",
        (Edit("dynamics/_measurements.py", "if p == 1 and q == 1)", "if p >= 1 and q >= 1)"),),
        ("tests/test_measurements.py",),
    ),
    # ---------------------------------------------------------------- report statistics
    Mutant(
        "report-ci-one-sided-quantile",
        "report statistics",
        "t quantile at CI_LEVEL instead of 0.5 + CI_LEVEL/2 for the two-sided interval",
        "the one-sided quantile in a two-sided interval",
        (Edit("simulations/_stats.py", "half = stats.t.ppf(0.5 + CI_LEVEL / 2, k - 1)",
              "half = stats.t.ppf(CI_LEVEL, k - 1)"),),
        ("tests/test_report_statistics.py",),
    ),
    Mutant(
        "report-sample-sd-ddof0",
        "report statistics",
        "population sd (ddof = 0) in the t interval instead of the sample sd",
        "numpy's std defaults to ddof = 0",
        (Edit("simulations/_stats.py",
              "half = stats.t.ppf(0.5 + CI_LEVEL / 2, k - 1) * values.std(axis=axis, ddof=1)",
              "half = stats.t.ppf(0.5 + CI_LEVEL / 2, k - 1) * values.std(axis=axis)"),),
        ("tests/test_report_statistics.py",),
    ),
    Mutant(
        "report-z-without-sqrt-k",
        "report statistics",
        "z of the mean divided by the sd of one count instead of sd / sqrt(k)",
        "the standard error of a mean confused with the sd of one draw",
        (Edit("simulations/_report.py",
              "se_theory = pred_sd / math.sqrt(k) if k else math.nan",
              "se_theory = pred_sd if k else math.nan"),),
        ("tests/test_report_statistics.py",),
    ),
    Mutant(
        "report-slope-variance-without-k",
        "report statistics",
        "var(log mean) = sd^2 / mean^2 without the 1/k of a mean of k instances",
        "the delta method applied to one count instead of to the mean",
        (Edit("simulations/_report.py",
              '/ (r["measured_instances"] * r["sim_mean"] ** 2)',
              '/ (r["sim_mean"] ** 2)'),),
        ("tests/test_report_statistics.py",),
    ),
)


# -------------------------------------------------------------------------------------- apply


class StaleMutant(ValueError):
    """An ``old`` snippet does not occur exactly once: the code moved, fix the mutant."""


def check_edits(mutant: Mutant, root: Path = ROOT) -> None:
    """Raise StaleMutant unless every edit's ``old`` occurs exactly once in its file."""
    for e in mutant.edits:
        text = (root / e.path).read_text()
        count = text.count(e.old)
        if count != 1:
            raise StaleMutant(f"mutant {mutant.name}: {e.path} contains its 'old' snippet "
                              f"{count} times (must be exactly 1): {e.old!r}")


def apply_edits(mutant: Mutant, root: Path) -> None:
    """Apply the edits in the copy at ``root``; each mutated file must still compile."""
    check_edits(mutant, root)
    by_file: dict[str, str] = {}
    for e in mutant.edits:
        text = by_file.get(e.path, (root / e.path).read_text())
        by_file[e.path] = text.replace(e.old, e.new, 1)
    for path, text in by_file.items():
        compile(text, path, "exec")  # a SyntaxError is the mutant's fault, not a kill
    for path, text in by_file.items():  # write only once every file compiles
        (root / path).write_text(text)


def copy_tree(dest: Path) -> Path:
    """Copy the repository to ``dest/repo`` without VCS data, caches and outputs."""
    target = dest / "repo"
    shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns(*IGNORED), symlinks=True)
    return target


def suite_paths(root: Path, first: tuple[str, ...] = ()) -> list[str]:
    """The default suite's test files (testpaths = tests, files test_*.py), ``first`` first.

    Listed file by file: pytest collects a file named before its directory at the
    directory's position, so ``[first, "tests"]`` would not change the order.
    """
    files = sorted(p.relative_to(root).as_posix() for p in (root / "tests").glob("test_*.py"))
    head = [f for f in first if f in files]
    return head + [f for f in files if f not in head]


def _env(copy: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("NUMBA_CACHE_DIR", None)  # numba caches next to the copy's sources, fresh
    return env


def check_imports(copy: Path) -> None:
    """The copy's packages, not the working tree's or an installed one, must be imported."""
    code = ("import json, dynamics, simulations, tests.helpers, theory; print(json.dumps("
            "[m.__file__ for m in (dynamics, simulations, tests.helpers, theory)]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=copy, env=_env(copy),
                         capture_output=True, text=True, timeout=300, check=True)
    files = json.loads(out.stdout)
    bad = [f for f in files if not Path(f).resolve().is_relative_to(copy.resolve())]
    if bad:
        raise RuntimeError(f"the copy at {copy} imports packages from elsewhere: {bad}")


_FAILED = re.compile(r"^(FAILED|ERROR) (\S+)", re.MULTILINE)


@dataclass
class Outcome:
    name: str
    verdict: str  # killed | survived | error
    returncode: int | None
    seconds: float
    killed_by: str  # first failing test node id, or the error's last line
    subset: bool  # True when --tests replaced the default suite


def run_suite(copy: Path, test_paths: list[str], timeout: float = TIMEOUT_S):
    """Run pytest in the copy; return (returncode or None on timeout, combined output)."""
    cmd = [sys.executable, *PYTEST, *test_paths]
    try:
        proc = subprocess.run(cmd, cwd=copy, env=_env(copy), capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        return None, f"timeout after {timeout:.0f} s\n{exc.stdout or ''}"
    return proc.returncode, proc.stdout + proc.stderr


def verdict(returncode: int | None) -> str:
    """The rule of the module docstring: 1 -> killed, 0 -> survived, else error."""
    if returncode == 1:
        return "killed"
    if returncode == 0:
        return "survived"
    return "error"


def _first_failure(output: str, returncode: int | None) -> str:
    match = _FAILED.search(output)
    if match:
        return match.group(2)
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    return lines[-1][:160] if lines and returncode != 0 else ""


def run_mutant(mutant: Mutant | None, tests: list[str] | None, keep: bool) -> Outcome:
    """Copy, mutate (None = the unmutated baseline), check imports, run, classify."""
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="mutant-"))
    name = mutant.name if mutant else "(baseline: no mutation)"
    try:
        copy = copy_tree(tmp)
        if mutant is not None:
            try:
                apply_edits(mutant, copy)
            except SyntaxError as exc:
                return Outcome(name, "error", None, time.perf_counter() - start,
                               f"mutated file does not compile: {exc}", bool(tests))
        try:
            check_imports(copy)
        except subprocess.CalledProcessError as exc:  # the mutant breaks an import: error
            last = (exc.stderr or "").strip().splitlines()[-1:] or ["import failed"]
            return Outcome(name, "error", None, time.perf_counter() - start,
                           f"import failed: {last[0][:140]}", bool(tests))
        paths = list(tests) if tests else suite_paths(copy, mutant.first if mutant else ())
        code, output = run_suite(copy, paths)
        if keep:
            (tmp / "pytest-output.txt").write_text(output)
        return Outcome(name, verdict(code), code, time.perf_counter() - start,
                       _first_failure(output, code), bool(tests))
    finally:
        if keep:
            print(f"    kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------ report


def table(outcomes: list[Outcome], mutants: dict[str, Mutant]) -> str:
    """Markdown table: mutant, what it changes, verdict, first failing test, seconds."""
    rows = ["| mutant | what it changes | result | killed by (first failing test) | s |",
            "|---|---|---|---|---|"]
    for o in outcomes:
        change = mutants[o.name].change if o.name in mutants else "nothing (baseline)"
        change = change.replace("|", "\\|")  # a literal pipe would split the table cell
        by = f"`{o.killed_by}`" if o.killed_by else ""
        rows.append(f"| `{o.name}` | {change} | {o.verdict} | {by} | {o.seconds:.0f} |")
    return "\n".join(rows)


def score_line(outcomes: list[Outcome]) -> str:
    killed = sum(o.verdict == "killed" for o in outcomes)
    survived = sum(o.verdict == "survived" for o in outcomes)
    errors = sum(o.verdict == "error" for o in outcomes)
    subset = " (test subset, not the default suite)" if any(o.subset for o in outcomes) else ""
    return (f"mutation score {killed}/{len(outcomes)} killed, {survived} survived, "
            f"{errors} error{subset}")


def collect_check() -> int:
    """Show that listing files first keeps the default suite's tests and changes the order."""
    def ids(paths):
        out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                              "-p", "no:cacheprovider", *paths], cwd=ROOT, capture_output=True,
                             text=True, timeout=600)
        return [ln for ln in out.stdout.splitlines() if "::" in ln]

    plain = ids([])
    first = "tests/test_toy_model.py"
    reordered = ids(suite_paths(ROOT, (first,)))
    same = sorted(plain) == sorted(reordered) and len(reordered) == len(set(reordered))
    leads = bool(reordered) and reordered[0].startswith(first + "::")
    print(f"default suite: {len(plain)} tests; reordered: {len(reordered)} tests; same set: "
          f"{same}; {first} runs first: {leads}")
    return 0 if same and leads else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutants",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--list", action="store_true",
                        help="list the mutants (and check their snippets) without running")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these mutants")
    parser.add_argument("--tests", nargs="+", metavar="PATH",
                        help="run these test paths instead of the default suite (development)")
    parser.add_argument("--json", action="store_true", help="print the outcomes as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the unmutated run that must pass first")
    parser.add_argument("--collect-check", action="store_true",
                        help="check that the reordered file list is the default suite")
    args = parser.parse_args(argv)
    by_name = {m.name: m for m in MUTANTS}
    if args.collect_check:
        return collect_check()
    if args.only:
        unknown = [n for n in args.only if n not in by_name]
        if unknown:
            parser.error(f"--only: unknown mutant(s) {unknown}; see --list")
    selected = [by_name[n] for n in args.only] if args.only else list(MUTANTS)
    try:
        for mutant in selected:
            check_edits(mutant)
    except StaleMutant as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.list:
        for m in selected:
            print(f"{m.name:36s} [{m.category}] {m.change}\n{'':36s} why: {m.why}")
        print(f"{len(selected)} mutants, all snippets found exactly once")
        return 0
    outcomes: list[Outcome] = []
    if not args.no_baseline:
        base = run_mutant(None, args.tests, args.keep)
        passed = "passed" if base.verdict == "survived" else f"failed ({base.verdict})"
        print(f"[baseline] unmutated copy {passed} in {base.seconds:.0f} s", flush=True)
        if base.verdict != "survived":
            print(f"error: the unmutated copy does not pass ({base.killed_by})", file=sys.stderr)
            return 2
    for i, mutant in enumerate(selected, 1):
        o = run_mutant(mutant, args.tests, args.keep)
        outcomes.append(o)
        detail = f" by {o.killed_by}" if o.killed_by else ""
        print(f"[{i}/{len(selected)}] {mutant.name}: {o.verdict}{detail} "
              f"({o.seconds:.0f} s)", flush=True)
    if args.json:
        print(json.dumps([o.__dict__ for o in outcomes], indent=1))
    else:
        print(table(outcomes, by_name))
    print(score_line(outcomes))
    return 0 if all(o.verdict == "killed" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
