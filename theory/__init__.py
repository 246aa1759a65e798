"""Closed-form and symbolic predictions for incidental polysemanticity.

Every quantity has two faces: a sympy expression (for the docs and the tests) and
a compiled numeric function (for `simulations`). `theory` never imports
`dynamics` or `simulations`, so each prediction stays falsifiable by an engine
that knows nothing about it.
"""
