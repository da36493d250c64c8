"""GANs: the minimax game, f-GAN, Wasserstein, hinge, least-squares and MMD GANs."""
