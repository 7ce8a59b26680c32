"""What perturbing an image costs: FLOPs counted from the models (``flops``),
seconds measured on this machine (``timing``), and the cost of generator
designs next to victims' and iterative attacks' (``generator_costs``)."""
