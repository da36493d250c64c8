"""genmodels.report."""
