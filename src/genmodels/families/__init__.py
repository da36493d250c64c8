"""genmodels.families."""
