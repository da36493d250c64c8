"""Mode coverage on ring8 / grid25 (VEEGAN, PacGAN)."""
