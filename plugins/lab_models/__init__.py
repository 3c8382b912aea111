"""Built-in model tasks: a small CNN and an MLP in PyTorch; train, evaluate, predict."""
