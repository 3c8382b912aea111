"""Built-in poisoning: backdoor triggers in the training set and their attack success rate."""
