"""genmodels.divergences."""
