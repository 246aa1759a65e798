"""The research studies behind the theory pages and the preregistrations.

Each module is the command that wrote per-instance CSVs under `docs/data/` for a page,
declared on the experiment protocol like the experiments (`EXPERIMENT`; shared flags,
store, resume; `python -m simulations.studies.<module> --help`;
docs/usage.md#research-studies):

* `fate`: the fate of the collisions present at initialisation
  (docs/preregistration-collision-fate.md);
* `cascade_check`: the confirmation runs of docs/theory/cascades.md and the best-model,
  lam and fast-sparsification preregistrations, and their tables;
* `cascade_explore`: the exploration measurements of docs/theory/cascades.md.

Three modules run nothing: they read published CSVs and print the tables of
docs/theory/tilted-occupancy.md (`single_model_table`, `tilt_candidates`) and the
preregistered analysis of docs/preregistration-single-model.md (`single_model_confirm`),
whose runs are `cascade_check`'s.

They are off the product path: their grids are the pages', not a general tool, and no
module of `simulations` outside this package imports them.
"""
