"""Evaluation: held-out metrics of a perturber against classifier and
segmenter victims, the transfer table, throughput, and the benchmark against
iterative baselines."""
