"""Built-in data tasks: offline digits, MNIST (IDX), CIFAR-10 (python batches), image folders."""
