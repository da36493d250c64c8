"""genmodels.metrics."""
