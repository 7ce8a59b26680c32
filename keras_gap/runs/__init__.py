"""Everything that runs attacks, and the run folders they write.

* ``attack_config`` → ``attack_run``: one GAP attack from its configuration
  to its artifacts (``train.universal``, ``train.image_dependent``);
  ``targeted_protocol`` runs one per sampled class.
* ``run_directory``: the run folder's format (``config.json``,
  ``metrics.json``, ``perturber.keras``), its lock, and reading runs back.
* ``transfer``: finished runs evaluated against any victims, the transfer
  table (``train.evaluate``).
* ``benchmark`` with ``benchmark_methods``: GAP against the iterative
  baselines on the same images (``train.benchmark``).
* ``speed``: GAP at the paper's scale timed on this machine (``train.speed``).
* ``sweep``: candidate settings of one attack side by side on several
  victims, the table defaults are chosen on (``train.sweep``).
"""
