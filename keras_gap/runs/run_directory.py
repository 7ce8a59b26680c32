"""A run's folder: the one module that writes and reads its format.

A run writes ``config.json`` (its resolved configuration, first),
``perturber.keras`` and, once evaluated, ``metrics.json`` (``write_config``,
``write_metrics``; the other artifacts are listed in ``attack_run``). A
directory holding a different run's ``config.json`` is refused; the same
configuration resumes (or reports a finished run). ``RunLock`` makes the
directory one run's for that run's life: a second run started into it at
the same moment is refused instead of mixing its files with the first's.
``read_run_config`` and ``load_run`` read finished runs back, for
``train.evaluate`` and the transfer table.
"""

import contextlib
import dataclasses
import fcntl
import os

from keras_gap.artifacts import check_writable_directory
from keras_gap.artifacts import make_directories
from keras_gap.artifacts import read_json_object
from keras_gap.artifacts import remove_empty_directories
from keras_gap.artifacts import write_json
from keras_gap.perturbers import load_perturber
from keras_gap.victims import is_application
from keras_gap.victims import victim_name

CONFIG_NAME = "config.json"
METRICS_NAME = "metrics.json"
PERTURBER_NAME = "perturber.keras"
LOCK_NAME = ".run.lock"
# What a finished run's metrics.json must hold for its summary.
METRICS_KEYS = ("num_images", "linf", "l2", "victims")


def check_output_path(output_dir):
    """Raises ``ValueError`` when ``output_dir`` cannot hold a run (a file on
    its path, not writable); writes nothing."""
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise ValueError(f"output directory {output_dir!r} exists and is not a directory")
    check_writable_directory(output_dir, "output directory")


def check_output_dir(output_dir, resolved, legacy=None):
    """Refuses a directory holding another run; returns True to resume.

    Args:
        output_dir: the run's output directory.
        resolved: the resolved configuration as a dict (``config.json``).
        legacy: ``{key: value}`` for keys a newer version added: a
            ``config.json`` without ``key`` is read as having ``value``.
    """
    check_output_path(output_dir)
    config_path = os.path.join(output_dir, CONFIG_NAME)
    if not os.path.isfile(config_path):
        return False
    existing = {**(legacy or {}),
                **read_json_object(config_path, "a run's configuration")}
    if existing.get("backend") != resolved.get("backend") and "backend" in resolved:
        raise ValueError(
            f"output directory {output_dir!r} holds a run trained under KERAS_BACKEND="
            f"{existing.get('backend')}; resume it with that backend (its backup holds "
            f"that backend's training state), or choose another --output-dir for "
            f"{resolved.get('backend')}")
    if existing != resolved:
        differences = sorted(
            k for k in set(existing) | set(resolved) if existing.get(k) != resolved.get(k)
        )
        detail = ", ".join(
            f"{k}: {existing.get(k)!r} there vs {resolved.get(k)!r} now" for k in differences
        )
        raise ValueError(
            f"output directory {output_dir!r} holds a different run's config ({detail}); "
            "choose another --output-dir"
        )
    return True


def read_finished_metrics(output_dir):
    """The ``metrics.json`` of a finished run in ``output_dir``, checked, or
    ``None`` when the run has not finished."""
    path = os.path.join(output_dir, METRICS_NAME)
    if not os.path.isfile(path):
        return None
    metrics = read_json_object(path, "a finished run's metrics")
    missing = [key for key in METRICS_KEYS if key not in metrics]
    if missing or not isinstance(metrics["victims"], dict):
        raise ValueError(
            f"{path!r} lacks {missing or ['victims']}: it is not a finished run's metrics; "
            "delete it and run the same command again to redo the run")
    if not os.path.isfile(os.path.join(output_dir, PERTURBER_NAME)):
        raise ValueError(
            f"{output_dir!r} holds metrics.json but no perturber.keras; delete metrics.json "
            "and run the same command again to redo the run")
    return metrics


def write_config(output_dir, resolved):
    """Writes the resolved configuration (a dict) as the run's ``config.json``."""
    write_json(os.path.join(output_dir, CONFIG_NAME), resolved)


def write_metrics(output_dir, metrics):
    """Writes the held-out metrics as ``metrics.json``: the run is finished."""
    write_json(os.path.join(output_dir, METRICS_NAME), metrics)


# Types a run's config.json must give the entries the evaluation reads.
_CONFIG_TYPES = {"kind": str, "objective": str, "norm": str, "epsilon": (int, float),
                 "target_class": int, "target_map": str}


def read_run_config(directory):
    """The ``config.json`` of a training run directory, or ``None``; a
    ``ValueError`` naming the file when it is not a run's config."""
    path = os.path.join(directory, CONFIG_NAME)
    if not os.path.isfile(path):
        return None
    config = read_json_object(path, "a training run's config")
    victims = config.get("victims")
    if not isinstance(victims, list) or not victims or not all(
            isinstance(v, str) and v for v in victims):
        raise ValueError(f"{path!r} does not name its victims as a list of file names or "
                         f"Keras Applications names (it has {victims!r})")
    for key, types in _CONFIG_TYPES.items():
        value = config.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, types)):
            raise ValueError(f"{path!r} has {key} {value!r}: not a training run's config")
    return config


@dataclasses.dataclass
class Run:
    """A finished training run: its perturber and the victims it was trained on."""

    directory: str
    config: dict
    perturber: object
    trained_on: list
    label: str

    @property
    def target_class(self):
        return self.config.get("target_class")

    @property
    def target_map(self):
        return self.config.get("target_map")

    @property
    def application_weights(self):
        """``{name: weights}`` of the Keras Applications victims it was
        trained on, from ``config.json`` (empty when the run predates
        per-victim weights)."""
        weights = self.config.get("victim_weights")
        if not isinstance(weights, list):
            return {}
        names = [s for s in self.config["victims"] if is_application(s)]
        return dict(zip(names, weights))

    def saw(self, victim):
        """Whether ``victim`` was among the training victims: the same name
        and, for a Keras Applications victim, the same weights."""
        trained_weights = self.application_weights.get(victim.name)
        return victim.name in self.trained_on and (
            trained_weights is None or trained_weights == victim.weights)

    @property
    def description(self):
        epsilon = self.config.get("epsilon")
        epsilon = "" if epsilon is None else f" ε {epsilon:.4g}"
        target = self.target_class if self.target_map is None else "target map"
        target = "" if target is None else f" → {target}"
        projection = self.config.get("projection", "scale")
        projection = "" if projection == "scale" else f" {projection}"
        layers = self.config.get("feature_layers")
        layers = "" if not layers else f" @{','.join(layers)}"
        diversity = self.config.get("input_diversity") or 0
        diversity = "" if not diversity else f" DI {diversity:g}"
        return (f"{self.config.get('kind', self.perturber.kind)} "
                f"{self.config.get('objective', '')}{target}{layers} "
                f"{self.config.get('norm', self.perturber.norm)}{epsilon}{projection}"
                f"{diversity}").replace("  ", " ")

    @property
    def budget(self):
        """What the random-noise floor depends on: kind, norm and epsilon."""
        return (f"{self.perturber.kind} {self.perturber.norm} "
                f"ε {float(self.perturber.epsilon):.4g}")


def load_run(directory):
    """Reads ``directory/config.json`` and loads ``directory/perturber.keras``."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise ValueError(f"run directory not found: {directory!r}")
    config = read_run_config(directory)
    if config is None:
        raise ValueError(
            f"{directory!r} holds no config.json: give a directory written by "
            "train.universal or train.image_dependent"
        )
    path = os.path.join(directory, PERTURBER_NAME)
    if not os.path.isfile(path):
        raise ValueError(f"{directory!r} holds no perturber.keras: is the run finished?")
    trained_on = [victim_name(v) for v in config["victims"]]
    return Run(directory, config, load_perturber(path), trained_on, " + ".join(trained_on))


def _holder(path):
    try:
        with open(path) as handle:
            return handle.read().strip() or "unknown"
    except OSError:
        return "unknown"


class RunLock(contextlib.AbstractContextManager):
    """Holds ``<directory>/.run.lock`` (``fcntl.flock``) for a run's life.

    The kernel drops the lock when the process ends, however it ends (a
    kill -9 too), so a dead run never leaves the directory stuck. A second
    run finding the lock held is refused with a ``ValueError`` naming the
    holder's process id. On leaving, the lock file is deleted (while still
    held), and so are the directories the lock created when nothing else
    was written into them.
    """

    def __init__(self, directory):
        self.directory = os.fspath(directory)
        self.path = os.path.join(self.directory, LOCK_NAME)
        self.created = []
        self.handle = None

    def __enter__(self):
        self.created = make_directories(self.directory)
        while self.handle is None:
            handle = open(self.path, "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                remove_empty_directories(self.created)
                raise ValueError(
                    f"output directory {self.directory!r} is in use by another run (process "
                    f"{_holder(self.path)}); wait for it to end or choose another --output-dir"
                ) from None
            if _same_file(handle, self.path):
                self.handle = handle
            else:  # the previous holder deleted the file: lock the new one
                handle.close()
        self.handle.truncate(0)
        self.handle.write(f"{os.getpid()}\n")
        self.handle.flush()
        return self

    def __exit__(self, error_type, error, traceback):
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)
        self.handle.close()
        self.handle = None
        remove_empty_directories(self.created)  # only those nothing was written into
        return False

def _same_file(handle, path):
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False
