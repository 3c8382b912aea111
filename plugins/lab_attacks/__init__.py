"""Built-in evasion attacks in native PyTorch (batched, on the model's device) and any ART attack."""
