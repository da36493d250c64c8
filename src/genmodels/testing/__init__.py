"""genmodels.testing."""
