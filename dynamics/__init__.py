"""Ground truth: gradient-flow ODEs and numba-accelerated training of the toy model.

`dynamics` never imports `theory` or `simulations`.
"""

# First: checks NUMBA_NUM_THREADS before numba is imported (dynamics/_environment.py).
from dynamics import _environment  # noqa: F401

# Measurements on trained weights: public re-exports.
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

# Hidden-layer noise, an option of ``train`` (docs/theory/noise.md).
from dynamics._noise import (  # noqa: F401
    NOISE_SHAPES,
    NOISE_SHARING,
    HiddenNoise,
    draw_noise,
)

# Single-feature sparsification under L1 (docs/theory/sparsification.md).
from dynamics._sparsification import integrate_sparsification  # noqa: F401
from dynamics._sparsification_types import (  # noqa: F401
    LAM_MAX as SPARSIFICATION_LAM_MAX,
)
from dynamics._sparsification_types import (  # noqa: F401
    METHODS as SPARSIFICATION_METHODS,
)
from dynamics._sparsification_types import (  # noqa: F401
    SparsificationOptions,
    SparsificationResult,
    SparsificationStats,
)
from dynamics._toy_model import (
    FLOW_TIME_PER_LR_STEP,  # noqa: F401
    lam_from_normalized,  # noqa: F401
    lam_to_normalized,  # noqa: F401
    loss,  # noqa: F401
    smooth_gradient,  # noqa: F401
    steps_to_normalized_time,  # noqa: F401
)
from dynamics._training import (
    DEFAULT_LR,  # noqa: F401
    FLOW_OPTIMIZERS,  # noqa: F401
    OPTIMIZERS,  # noqa: F401
    DivergenceError,  # noqa: F401
    RunRecord,  # noqa: F401
    TrainOptions,  # noqa: F401
    gd_step_size_bound,  # noqa: F401
    init_weights,  # noqa: F401
    train,  # noqa: F401
)
