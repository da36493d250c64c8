"""genmodels.bijections."""
