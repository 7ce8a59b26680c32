"""The benchmark program on a tiny budget."""

import json
import os

import pytest

from keras_gap.evaluation.benchmark import METHODS
from keras_gap.evaluation.benchmark import available_methods
from train.benchmark import main


@pytest.fixture(scope="module")
def victim_path(tiny_victim_path):
    """The session's tiny conv net, saved as .keras."""
    return tiny_victim_path


def test_benchmark_writes_every_method_and_all_three_files(victim_path, tmp_path, capsys):
    output_dir = tmp_path / "bench"
    assert main([
        "--victim", victim_path, "--epsilons", "0.05,0.1", "--train-steps", "2",
        "--batch-size", "16", "--generator-filters", "8", "--generator-blocks", "1",
        "--uap-images", "32", "--uap-passes", "1", "--eval-images", "40",
        "--eval-batch-size", "20", "--output-dir", str(output_dir),
    ]) == 0
    with open(output_dir / "benchmark.json") as handle:
        rows = json.load(handle)
    methods = available_methods()
    assert set(METHODS) <= set(methods)
    assert {(r["method"], r["epsilon"]) for r in rows} == {
        (m, e) for m in methods for e in (0.05, 0.1)}
    for row in rows:
        assert set(row) == {"method", "epsilon", "fooling_rate", "target_success_rate",
                            "build_seconds", "ms_per_image"}
        assert 0.0 <= row["fooling_rate"] <= 1.0 and row["ms_per_image"] > 0
    table = (output_dir / "benchmark.md").read_text()
    assert all(f"| {m} | 0.1 |" in table for m in methods)
    assert os.path.getsize(output_dir / "benchmark.png") > 1000
    assert f"[{len(rows)}/{len(rows)}]" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--epsilons", "0.1,-0.2"], "epsilon must be finite and > 0, got '-0.2'"),
    (["--methods", "fgsm,magic"], "unknown method(s) ['magic']"),
    (["--train-steps", "0"], "expected a positive integer, got '0'"),
])
def test_bad_arguments_raise_clear_errors(victim_path, tmp_path, argv, message):
    with pytest.raises(ValueError) as error:
        main(["--victim", victim_path, "--output-dir", str(tmp_path)] + argv)
    assert message in str(error.value)
