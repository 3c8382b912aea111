"""Built-in plots (matplotlib): robustness curves, adversarial examples, norms, confusion matrices."""
