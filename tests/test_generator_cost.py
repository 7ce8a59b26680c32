"""``python -m train.generator_cost`` and the design / shape parsing behind it."""

import json

import pytest

from keras_gap.cost.flops import flops_per_image
from keras_gap.cost.generator_costs import Design
from keras_gap.cost.generator_costs import victim_costs
from keras_gap.cost.generator_costs import parse_shape
from keras_gap.generators import build_generator
from train.generator_cost import main


def test_designs_and_shapes_parse():
    assert Design.parse("resnet:64:6") == Design("resnet", 64, 6)
    assert Design.parse("unet:32") == Design("unet", 32, None)
    assert Design.parse("separable_resnet").arguments((299, 299, 3)) == {
        "filters": 64, "num_residual_blocks": 6}
    assert Design("resnet", 8, 1).label((28, 28, 1)) == "resnet 8/1"
    assert parse_shape("299") == (299, 299, 3)
    assert parse_shape("28x20x1") == (28, 20, 1)


@pytest.mark.parametrize("text,fragment", [
    ("resnet:x", "'resnet:x'"), ("resnet:1:2:3", "'resnet:1:2:3'"), ("gan:8", "'gan'")])
def test_bad_designs_are_named(text, fragment):
    with pytest.raises(ValueError, match=fragment):
        Design.parse(text)


@pytest.mark.parametrize("text", ["0", "28x28", "28x0x1", "big"])
def test_bad_shapes_are_named(text):
    with pytest.raises(ValueError, match=repr(text)):
        parse_shape(text)


def test_program_counts_flops_of_designs_and_victims(tmp_path, capsys, tiny_victim_path):
    output = tmp_path / "costs.json"
    assert main(["--no-timing", "--design", "separable_resnet:4:1", "--design", "resnet:4:1",
                 "--shape", "28x28x1", "--shape", "40", "--victim", tiny_victim_path,
                 "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "| separable_resnet 4/1 | 28×28×1 |" in printed and "PGD-10 GFLOP" in printed
    result = json.loads(output.read_text())
    rows = {(row["design"], tuple(row["image_shape"])): row for row in result["designs"]}
    assert len(rows) == 4
    expected = flops_per_image(build_generator("resnet", (40, 40, 3), filters=4,
                                               num_residual_blocks=1))
    assert rows[("resnet 4/1", (40, 40, 3))]["flops"] == expected
    assert rows[("separable_resnet 4/1", (40, 40, 3))]["flops"] < expected
    # The .keras victim only runs at its own 28×28×1.
    (victim,) = result["victims"]
    assert victim["image_shape"] == [28, 28, 1]
    assert victim["pgd10_flops"] == 30 * victim["forward_flops"] > 0


def test_program_times_a_design(capsys):
    assert main(["--design", "separable_resnet:4:1", "--shape", "16x16x1",
                 "--batch-size", "2", "--repeats", "1"]) == 0
    row = capsys.readouterr().out.splitlines()[-1]
    assert row.startswith("| separable_resnet 4/1 | 16×16×1 |")
    assert float(row.split("|")[-2]) > 0  # ms per image, measured


def test_program_refuses_bad_arguments():
    with pytest.raises(ValueError, match="'gan'"):
        main(["--design", "gan"])
    with pytest.raises(ValueError, match="--repeats"):
        main(["--repeats", "0"])


def test_an_applications_victim_is_costed_without_downloading_weights(monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("tried to download ImageNet weights")

    monkeypatch.setattr("keras.src.utils.file_utils.get_file", no_download)
    row, = victim_costs(["mobilenet_v2"], [(32, 32, 3)], time=False)
    assert row["image_shape"] == [32, 32, 3] and row["forward_flops"] > 0
    assert row["pgd10_flops"] > row["fgsm_flops"] > row["forward_flops"]
