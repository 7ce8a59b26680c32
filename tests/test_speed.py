"""``python -m train.speed`` with tiny settings (its figures are for a GPU;
no test asserts a speed)."""

import json

import pytest

from train import speed

TINY = ["--generator-filters", "4", "--generator-blocks", "1", "--generator-batch-size", "2",
        "--batch-size", "2", "--warmup", "1", "--repeats", "2"]


def test_speed_program_times_every_precision_and_writes_json(tiny_victim_path, tmp_path):
    output = tmp_path / "speed" / "speed.json"
    lines = []
    assert speed.main([*TINY, "--victim", tiny_victim_path, "--precisions", "float32,bfloat16",
                       "--output", str(output)], log=lines.append) == 0
    result = json.loads(output.read_text())
    assert sorted(result["results"]) == ["bfloat16", "float32"]
    assert result["settings"]["victim"] == tiny_victim_path and result["device"]
    for figures in result["results"].values():
        for part in ("generator", "victim_forward", "victim_input_gradient"):
            assert figures[part]["ms_per_image"] > 0 and figures[part]["repeats"] == 2
        assert figures["pgd10_ms_per_image"] == pytest.approx(
            10 * figures["victim_input_gradient"]["ms_per_image"])
        assert figures["training"]["images_per_second"] > 0
        assert figures["training"]["loss_scaling"] is False
    assert result["results"]["float32"]["generator"]["parameters"] == result["results"][
        "bfloat16"]["generator"]["parameters"] > 0
    printed = "\n".join(lines)
    assert "GAP training images/s (batch 2)" in printed and "| bfloat16 |" in printed


@pytest.mark.parametrize("argv,fragment", [
    (["--precisions", "float32,float8"], "float8"),
    (["--precisions", "float32,float32"], "float32"),
    (["--generator-blocks", "-1"], "-1"),
])
def test_speed_program_refuses_bad_settings_before_timing(argv, fragment, tmp_path):
    with pytest.raises(ValueError, match=fragment):
        speed.main([*TINY, *argv, "--output", str(tmp_path / "s.json")])
    assert not (tmp_path / "s.json").exists()


def test_speed_program_refuses_a_directory_as_output(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        speed.main([*TINY, "--output", str(tmp_path)])
