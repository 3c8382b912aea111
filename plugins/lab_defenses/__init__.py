"""Built-in defenses: preprocessing (JPEG, smoothing, squeezing), noise augmentation, adversarial training."""
