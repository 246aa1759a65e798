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

# --- training (normalized units of
# docs/paper.md#normalized-units; docs/theory/sparsification.md) ---
lam = sp.Symbol("lambda", positive=True)  # L1 strength in normalized units (lambda_code / 4)
t = sp.Symbol("t", nonnegative=True)  # gradient-flow time in normalized units (4 x code time)
sigma0 = sp.Symbol("sigma_0", positive=True)  # init scale: |w_k(0)| ~ |N(0, sigma_0^2 / m)|
gamma = sp.Symbol("gamma", nonnegative=True)  # scaled L1 cut, gamma = c_cut sqrt(m) / sigma_0
u = sp.Symbol("u", nonnegative=True)  # integration variable: |w_k(0)| sqrt(m) / sigma_0
A_exp = sp.Symbol("A", real=True)  # log growth factor of the affine map, |w| = e^A (|w(0)| - c)
gap = sp.Symbol("g", positive=True)  # gap between the two largest initial magnitudes
delta = sp.Symbol("delta", positive=True)  # gap between the 2nd and 3rd largest magnitudes

# --- hidden-layer noise (docs/theory/noise.md#setup) ---
sigma = sp.Symbol("sigma", positive=True)  # noise standard deviation per hidden coordinate
kappa = sp.Symbol("kappa", real=True)  # excess kurtosis of one noise coordinate (>= -2)
c = sp.Symbol("c", positive=True)  # negative-overlap margin |<W_i, W_j>| of an off-target pair
s = sp.Symbol("s", positive=True)  # standard deviation of the projected noise Z_j = <W_j, xi>
q = sp.Symbol("q", positive=True)  # participation ratio ||W_j||_4^4 / ||W_j||_2^4, in [1/m, 1]
z = sp.Symbol("z", real=True)  # integration variable (value of Z_j)
a = sp.Symbol("a", positive=True)  # margin in units of the noise, a = c / s
