"""Training: the ``GAPTrainer`` (a custom training step) and its optimizer,
the callbacks and backups of a run's ``fit``, ``tf.distribute`` strategies,
mixed precision, memory checks, and training the victims this project needs.
The run drivers that use them are in ``keras_gap.runs``."""
