"""genmodels.nn."""
