"""genmodels.distributions."""
