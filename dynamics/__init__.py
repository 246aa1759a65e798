"""Ground truth: gradient-flow ODEs and numba-accelerated training of the toy model.

`dynamics` never imports `theory` or `simulations`.
"""

# Measurements on trained weights (issue 4): public re-exports.
from dynamics._measurements import (
    Measurement,  # noqa: F401
    assign_features,  # noqa: F401
    count_polysemantic_assignment,  # noqa: F401
    count_polysemantic_window,  # noqa: F401
    features_represented,  # noqa: F401
    fourth_norms,  # noqa: F401
    init_final_correlation,  # noqa: F401
    max_positive_overlap,  # noqa: F401
    mean_offdiagonal_overlap,  # noqa: F401
    measure,  # noqa: F401
    polysemantic_neurons,  # noqa: F401
    winner_is_init_argmax,  # noqa: F401
)
