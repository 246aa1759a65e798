"""Experiments: sweeps, the theory-vs-simulation report, the results store, figures."""
