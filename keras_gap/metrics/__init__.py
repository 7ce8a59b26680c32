"""Held-out metrics of a perturber against its victims.

``classification`` (fooling rate, accuracies, target success) and
``segmentation`` (mIoU, pixel accuracy, target-map success) share the
evaluation loop of ``batches``: perturb each batch, add the random-noise
floor of the same budget, record the applied norms. A new metric goes into
the module of its task and into that task's ``columns``
(``keras_gap.tasks``), which prints it.
"""
