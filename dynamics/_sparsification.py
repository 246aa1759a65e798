"""Single-feature sparsification under L1: the interference-free gradient flow of one encoding.

Normalized units (docs/paper.md#normalized-units): for one feature with encoding w in R^m,

    dw_k/dt = (1 - ||w||^2) w_k - lam sign(w_k),      a weight that reaches 0 stays 0.

Three solvers share one entry point, :func:`integrate_sparsification`:

* ``"exact"``  the affine reduction of docs/theory/sparsification.md#affine-reduction
               (``_sparsification_exact``): two scalar ODEs integrated in the cut c.
* ``"ode"``    the full m-dimensional system, scipy DOP853 with event location at every
               zero crossing (``_sparsification_ode``).
* ``"euler"``  the authors' scheme, fixed dt, weights <= 0 deleted; numba kernel
               (``_sparsification_euler``).

Options, result and validation are in ``_sparsification_types``; all three solvers return the
same frozen :class:`SparsificationResult`.
"""

from __future__ import annotations

from dynamics._sparsification_euler import integrate_euler
from dynamics._sparsification_exact import integrate_exact
from dynamics._sparsification_ode import integrate_ode
from dynamics._sparsification_types import (
    SolverFailure,
    SparsificationOptions,
    SparsificationResult,
    failed,
    validate_arguments,
)

__all__ = ["integrate_sparsification"]

_SOLVERS = {"exact": integrate_exact, "ode": integrate_ode, "euler": integrate_euler}


def integrate_sparsification(
    w0, lam: float, t_max: float, *, method: str = "exact",
    options: SparsificationOptions | None = None,
) -> SparsificationResult:
    """Integrate the interference-free single-feature L1 flow from ``w0`` up to ``t_max``.

    dw_k/dt = (1 - ||w||^2) w_k - lam sign(w_k), zero absorbing (docs/theory/sparsification.md
    #setup, eq. (1)). Signs never change, so the solvers work on |w| and restore signs.

    Main arguments:
        w0: initial weights, 1-D array of length m (any signs; exact zeros are dead).
        lam: L1 strength in normalized units (lambda_code / 4), in (0, 2/(3 sqrt 3)).
        t_max: final time in normalized units (> 0).

    Other arguments:
        method: "exact" (default; affine reduction, scales to m = 1e8), "ode" (full system
            with event location, reference), "euler" (the authors' fixed-step scheme).
        options: :class:`SparsificationOptions`.

    Returns:
        :class:`SparsificationResult` with t, m', ||w||_1, ||w||_2^2 at the record times,
        t_full and optionally weights and death times.

    Raises:
        ValueError: a bad argument (the message names it and its accepted range).
        RuntimeError: solver failure, unless ``options.throw`` is False.
    """
    w0, lam, t_max, options, t_eval = validate_arguments(w0, lam, t_max, method, options)
    try:
        return _SOLVERS[method](w0, lam, t_max, options, t_eval)
    except SolverFailure as exc:
        message = str(exc)
    return failed(options, method, message)  # raises RuntimeError if options.throw
