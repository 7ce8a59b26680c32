"""The part every task shares: its table of per-victim metrics."""

from keras_gap.reports.tables import format_table


class Task:
    """Base class of the tasks. Subclasses set ``victim_task`` (the
    ``Victim.task`` they handle) and implement ``for_victim``, ``objective``,
    ``check_data``, ``evaluate``, ``save_samples`` and ``columns``."""

    victim_task = None
    attack_phrase = "attack"
    target_metric = None

    @property
    def targeted(self):
        raise NotImplementedError

    def columns(self):
        """``[(heading, metric key), ...]`` of the per-victim table."""
        raise NotImplementedError

    def table(self, metrics, style="text", seen=None):
        """The per-victim metrics as a table (``style`` "text" or "markdown").

        ``seen`` (``{victim name: bool}``) adds a "trained on it" column.
        """
        columns = self.columns()
        header = ["victim"] + (["trained on it"] if seen is not None else [])
        header += [heading for heading, _ in columns]
        rows = []
        for name, values in metrics["victims"].items():
            row = [name]
            if seen is not None:
                row.append("?" if name not in seen else ("yes" if seen[name] else "no"))
            rows.append(row + [values[key] for _, key in columns])
        align = "l" * (2 if seen is not None else 1) + "r" * len(columns)
        return format_table(header, rows, style=style, align=align)

    def summary(self, metrics):
        """The lines printed after a run: the per-victim table."""
        return self.table(metrics).splitlines()
