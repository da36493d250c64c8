"""Score-based diffusion: forward SDEs, denoising score matching, reverse-time samplers."""
