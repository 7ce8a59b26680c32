import os
import re
import subprocess
import sys

import pytest

from keras_gap.training.distribution import make_strategy

HERE = os.path.dirname(os.path.abspath(__file__))


# batch_mean couples the images of a batch: the replicas must see the
# global batch's mean CE, not their own half's.
@pytest.mark.parametrize("reduction", ["per_image", "batch_mean"])
def test_mirrored_update_equals_the_single_device_update(reduction):
    result = subprocess.run(
        [sys.executable, os.path.join(HERE, "mirrored_step.py"), reduction],
        cwd=os.path.dirname(HERE), capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": os.path.dirname(HERE)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    match = re.search(r"replicas=(\d+) update=(\S+) difference=(\S+)", result.stdout)
    assert match, result.stdout
    replicas, update, difference = int(match[1]), float(match[2]), float(match[3])
    assert replicas == 2
    assert update > 1e-4  # the step really moved the weights
    # A loss not divided by the replica count would make this ~update.
    assert difference < 1e-3 * update + 1e-6


def test_auto_strategy_on_a_machine_without_gpus_is_the_default_one():
    strategy = make_strategy("auto")
    assert strategy.num_replicas_in_sync == 1


def test_unknown_strategy_is_rejected():
    with pytest.raises(ValueError, match="'tpu'"):
        make_strategy("tpu")
