"""genmodels.train."""
