"""The README's library example runs as written (with a smaller budget)."""

import os
import re

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def _library_example():
    text = open(README).read()
    section = text.split("## Using the library in your own Keras script", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S)[1]


def test_library_example_runs(tiny_victim_path, tmp_path, monkeypatch):
    code = _library_example()
    assert len(code.strip().splitlines()) < 15
    code = code.replace('"victims/fashion_small_cnn.keras"', repr(tiny_victim_path))
    code = code.replace("epochs=3, steps_per_epoch=100", "epochs=1, steps_per_epoch=2")
    code = code.replace("filters=32, num_residual_blocks=3", "filters=4, num_residual_blocks=1")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert os.path.isfile(tmp_path / "perturber.keras")
    adversarial = namespace["adversarial"].numpy()
    assert adversarial.shape == (64, 28, 28, 1)
    assert 0.0 <= adversarial.min() and adversarial.max() <= 1.0
