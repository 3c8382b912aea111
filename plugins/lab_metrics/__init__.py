"""Built-in metrics: accuracies, attack success, perturbation norms, confusion; each logged to MLflow."""
