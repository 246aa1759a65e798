"""Ground truth: gradient-flow ODEs and numba-accelerated training of the toy model.

`dynamics` never imports `theory` or `simulations`.
"""
