"""genmodels.data."""
