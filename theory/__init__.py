"""Closed-form and symbolic predictions for incidental polysemanticity.

Every quantity has two faces: a sympy expression (for the docs and the tests) and
a compiled numeric function (for `simulations`). `theory` never imports
`dynamics` or `simulations`, so each prediction stays falsifiable by an engine
that knows nothing about it.
"""

# The three count models as modules: theory.collisions (the sign-bin model),
# theory.cascades (the magnitude-rule cascade model) and theory.tilted_occupancy (the
# tilted injective occupancy); theory.best_model chooses among them.
from theory import best_model, cascades, collisions, tilted_occupancy  # noqa: F401

# The project's best count prediction at (n, m, lam) and the model behind it
# (theory/best_model.py).
from theory.best_model import (  # noqa: F401
    best_model_name,
    expected_poly_best,
    sd_poly_best,
)

# Collisions with cascades: a feature that loses a same-sign collision falls back to its
# next neuron (docs/theory/cascades.md).
from theory.cascades import (  # noqa: F401
    cascade_assignment,
    expected_poly_cascade,
    sd_poly_cascade,
)

# Incidental collisions: how many polysemantic neurons random initialization produces
# under the sign-bin model (docs/theory/collisions.md).
from theory.collisions import (  # noqa: F401
    expected_multi,
    expected_pairs,
    expected_poly_exact,
    expected_poly_first_order,
    expected_poly_pairs,
    m_threshold_expected_below_one,
    m_threshold_expected_below_one_asymptotic,
    m_threshold_p_no_poly_half,
    m_threshold_p_no_poly_half_asymptotic,
    p_benign_collision,
    p_collision,
    p_no_poly,
    sd_poly_exact,
    var_poly_exact,
)

# Second origin story: hidden-layer noise with negative excess kurtosis
# (docs/theory/noise.md).
from theory.noise import (  # noqa: F401
    NOISE_KURTOSIS,
    SIMPLEX_KINDS,
    noise_advantage_argmax,
    noise_bernoulli_row_leak,
    noise_centred_simplex_fourth,
    noise_edgeworth_correction,
    noise_leak_edgeworth,
    noise_leak_gaussian,
    noise_leak_one_sparse,
    noise_margin_limit,
    noise_projection_kurtosis,
    noise_sigma_optimum,
    noise_sigma_star,
    noise_simplex_fourth,
    noise_simplex_leak,
    noise_simplex_weights,
    noise_sparse_advantage,
    noise_sparsest_simplex,
    noise_window,
)
from theory.noise import expressions as noise_expressions  # noqa: F401

# Single-feature sparsification under L1 (docs/theory/sparsification.md).
from theory.sparsification import (  # noqa: F401
    MeanFieldCurve,
    mean_field,
    paper_law,
    refined_law,
    t_full_adiabatic,
    t_full_distribution,
    two_weight_stage_time,
)
from theory.sparsification import expressions as sparsification_expressions  # noqa: F401
