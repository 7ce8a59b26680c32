"""Training: the ``GAPTrainer`` (a custom ``train_step``), one attack run from
configuration to artifacts (``attack_run``), ``tf.distribute`` strategies,
and training the victims this project needs."""
