"""Comparisons of models and their reports: ``genmodels compare``, ``demo``, ``runs``."""
