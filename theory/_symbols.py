"""Every sympy symbol of the project, declared once with its assumptions.

Modules import symbols from here so that expressions built in different places
combine (sympy treats symbols with different assumptions as different objects).
Append new symbols at the end of the section they belong to.
"""

import sympy as sp

# --- model sizes (docs/theory/collisions.md#setup) ---
n = sp.Symbol("n", integer=True, positive=True)  # number of features
m = sp.Symbol("m", integer=True, positive=True)  # number of hidden neurons
eps = sp.Symbol("epsilon", positive=True)  # expansion parameter, eps = 1/m, for m >> n series

# --- training (normalized units of PAPER.md 2.2; docs/theory/sparsification.md) ---
lam = sp.Symbol("lambda", positive=True)  # L1 strength in normalized units (lambda_code / 4)
t = sp.Symbol("t", nonnegative=True)  # gradient-flow time in normalized units (4 x code time)
