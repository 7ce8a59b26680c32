"""The package's floors only look down.

``FLOORS`` is the house plan: a sub-package of ``keras_gap`` may import the
sub-packages on floors below its own, never one on its own floor or above.
The static test reads every import statement of every module (those inside
functions too); the runtime test imports each sub-package, lowest floor first, in a
fresh interpreter, and checks that none loads a sub-package above it. Programs (``train/``, ``export/``) sit above every floor:
the library never imports them.
"""

import ast
import json
import os
import subprocess
import sys

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(REPOSITORY, "keras_gap")

FLOORS = [
    {"version", "checks", "artifacts", "keras_internals", "backend"},
    {"layers", "objectives", "reports"},
    {"generators", "victims", "data"},
    {"perturbers", "baselines"},
    {"metrics", "cost"},
    {"tasks"},
    {"training"},
    {"runs", "serving"},
    {"cli"},
]
FLOOR = {name: index for index, names in enumerate(FLOORS) for name in names}


def _modules():
    for directory, _, files in os.walk(PACKAGE):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                yield os.path.relpath(path, REPOSITORY), path


def _imports(path):
    """The keras_gap sub-packages (and programs) a module imports."""
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "keras_gap":
                yield from (alias.name for alias in node.names)
            elif node.module.startswith("keras_gap."):
                yield node.module.split(".")[1]
            elif node.module.split(".")[0] in ("train", "export"):
                yield node.module.split(".")[0]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")
                if top[0] == "keras_gap" and len(top) > 1:
                    yield top[1]
                elif top[0] in ("train", "export"):
                    yield top[0]


def _package(relative):
    parts = relative[:-3].split(os.sep)
    return parts[1] if len(parts) > 1 else None


def test_every_sub_package_is_on_a_floor():
    found = {_package(relative) for relative, _ in _modules()} - {"__init__"}
    assert found == set(FLOOR), f"add {sorted(found - set(FLOOR))} to FLOORS"


def test_every_import_goes_down():
    upward = []
    for relative, path in _modules():
        package = _package(relative)
        if package == "__init__":
            continue
        for target in set(_imports(path)):
            if target in ("train", "export"):
                upward.append(f"{relative} imports the program package {target}")
            elif target != package and FLOOR[target] >= FLOOR[package]:
                upward.append(f"{relative} ({package}, floor {FLOOR[package]}) imports "
                              f"{target} (floor {FLOOR[target]})")
    assert not upward, "\n".join(upward)


# Run in a fresh interpreter: ``import keras_gap`` (the serialisable core),
# then each sub-package from the lowest floor up, each on top of only the
# floors below it, recording what each import newly loaded.
_IMPORT_EACH = """
import json, sys
floor = json.loads(sys.argv[1])
before = set(sys.modules)
import keras_gap
core = sorted({m.split(".")[1] for m in set(sys.modules) - before
               if m.startswith("keras_gap.")})
above = {}
for name in sorted(floor, key=floor.get):
    before = set(sys.modules)
    __import__("keras_gap." + name)
    loaded = {m.split(".")[1] for m in set(sys.modules) - before if m.startswith("keras_gap.")}
    above[name] = sorted(p for p in loaded if p != name and floor[p] >= floor[name])
print(json.dumps({"core": core, "above": above}))
"""


def test_each_sub_package_imports_on_top_of_the_floors_below_it():
    result = subprocess.run([sys.executable, "-c", _IMPORT_EACH, json.dumps(FLOOR)],
                            capture_output=True, text=True, cwd=REPOSITORY, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["above"] == {name: [] for name in FLOOR}
    # The core holds no run driver, metric, report or program code.
    assert set(report["core"]) <= {"checks", "artifacts", "version", "backend", "layers",
                                   "objectives",
                                   "generators", "victims", "perturbers", "training"}
