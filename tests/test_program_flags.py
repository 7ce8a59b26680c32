"""Every program takes a shared flag the same way: one definition
(``keras_gap.cli.FLAGS``), one rule (``keras_gap.checks``).

The programs once drifted apart (``--generator-blocks 0`` taken by
``train.universal`` and refused by ``train.benchmark``; ``train.speed`` and
``train.data_benchmark`` took any ``--seed``). Here each program's parser is
read: a shared flag must carry the shared type and choices, refuse the same
bad value naming the flag and the value, and the configurations the
programs fill must take the same good values.
"""

import importlib

import pytest

from keras_gap.cli import FLAGS
from keras_gap.runs.attack_config import AttackConfig
from keras_gap.runs.benchmark import BenchmarkConfig
from keras_gap.runs.speed import SpeedSettings

PROGRAMS = ["train.universal", "train.image_dependent", "train.targeted_protocol", "train.sweep",
            "train.classifier", "train.segmenter", "train.evaluate", "train.benchmark",
            "train.speed", "train.data_benchmark", "train.generator_cost",
            "export.savedmodel", "export.serving_client"]
# A value each shared flag with a type must refuse.
BAD = {"--seed": "-1", "--batch-size": "0", "--epochs": "0", "--learning-rate": "nan",
       "--ema-momentum": "1", "--generator-filters": "0", "--generator-blocks": "-1",
       "--image-size": "0", "--train-images": "0", "--eval-images": "0", "--epsilon": "0"}


def _shared_actions(program):
    parser = importlib.import_module(program).parser()
    return {option: action for action in parser._actions for option in action.option_strings
            if option in FLAGS}


@pytest.mark.parametrize("program", PROGRAMS)
def test_shared_flags_have_the_shared_definition(program):
    for flag, action in _shared_actions(program).items():
        shared = FLAGS[flag]
        assert action.type is shared.get("type"), f"{program} {flag}"
        assert action.choices == shared.get("choices"), f"{program} {flag}"


@pytest.mark.parametrize("program", PROGRAMS)
def test_shared_flags_refuse_the_same_bad_values_naming_flag_and_value(program):
    parser = importlib.import_module(program).parser()
    taken = [flag for flag in _shared_actions(program) if flag in BAD]
    for flag in taken:
        with pytest.raises(ValueError) as error:
            parser.parse_args([flag, BAD[flag]])
        assert flag in str(error.value) and repr(BAD[flag]) in str(error.value), str(error.value)


def test_the_flags_that_drifted_are_taken_everywhere():
    seeds = [program for program in PROGRAMS if "--seed" in _shared_actions(program)]
    assert {"train.speed", "train.data_benchmark", "train.benchmark", "train.universal",
            "train.classifier"} <= set(seeds)
    # No residual block is a valid ResNet generator in every program and config.
    blocks = [p for p in PROGRAMS if "--generator-blocks" in _shared_actions(p)]
    assert {"train.universal", "train.benchmark", "train.speed"} <= set(blocks)
    for program in blocks:
        parser = importlib.import_module(program).parser()
        assert parser.parse_known_args(["--generator-blocks", "0"])[0].generator_blocks == 0
    assert AttackConfig(generator="resnet", generator_blocks=0).generator_blocks == 0
    assert BenchmarkConfig(victim="v.keras", output_dir="o", generator="resnet",
                           generator_blocks=0).generator_blocks == 0
    assert SpeedSettings(generator_blocks=0).generator_blocks == 0
    for make in (lambda: AttackConfig(seed=-1), lambda: BenchmarkConfig("v", "o", seed=-1),
                 lambda: SpeedSettings(seed=-1)):
        with pytest.raises(ValueError, match="seed must be an integer between 0 and"):
            make()
