"""SavedModel export for TF Serving and its program ``export.savedmodel``.

TF Serving itself cannot be installed here: signatures are checked with
``saved_model_cli show --all`` and the reloaded SavedModel's outputs are
compared with the in-memory perturber (the serving client is tested in
``test_serving_client.py``).
"""

import os
import re
import subprocess

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import predict_pb2

from export.savedmodel import main as export_main
from keras_gap.generators import GENERATORS
from keras_gap.perturbers import build_perturber
from keras_gap.serving import client as serving_client
from keras_gap.serving import export as serving
from keras_gap.artifacts import save_keras
from keras_gap.training.precision import mixed_precision_scope
from serving_helpers import KINDS
from serving_helpers import SETTINGS
from serving_helpers import as_uint8
from serving_helpers import expected_uint8
from serving_helpers import images_for


@pytest.fixture(scope="module")
def perturber_file(tmp_path_factory, exports):
    path = tmp_path_factory.mktemp("run") / "perturber.keras"
    save_keras(exports["universal"].perturber, path)
    return str(path)


def _parse_show_all(text):
    """signature -> {"inputs": {name: (dtype, shape)}, "outputs": ..., "method": ...},
    and the set of ops, from ``saved_model_cli show --all``."""
    signatures = {}
    for block in re.split(r"\nsignature_def\['", text)[1:]:
        name = block.split("'", 1)[0]
        tensors = {"inputs": {}, "outputs": {}}
        for side, key, dtype, shape in re.findall(
            r"(inputs|outputs)\['(\w+)'\] tensor_info:\s+dtype: (\w+)\s+shape: (\([^)]*\))", block
        ):
            tensors[side][key] = (dtype, shape)
        method = re.search(r"Method name is: (\S*)", block).group(1)
        signatures[name] = {**tensors, "method": method}
    ops = re.search(r"contains the following ops: \{([^}]*)\}", text).group(1)
    return signatures, {op.strip().strip("'") for op in ops.split(",")}


@pytest.fixture(scope="module", params=KINDS)
def shown(request, exports):
    completed = subprocess.run(
        ["saved_model_cli", "show", "--all", "--dir", exports[request.param].path],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert completed.returncode == 0, completed.stderr
    return request.param, _parse_show_all(completed.stdout)


def test_saved_model_cli_lists_signatures_dtypes_and_shapes(shown):
    kind, (signatures, ops) = shown
    height, width, channels = SETTINGS[kind][0]
    batch = f"(-1, {height}, {width}, {channels})"
    expected = {
        "serving_default": {
            "inputs": {"images": ("DT_FLOAT", batch)},
            "outputs": {"adversarial_images": ("DT_FLOAT", batch),
                        "perturbations": ("DT_FLOAT", batch)},
        },
        "serve_uint8": {
            "inputs": {"images": ("DT_UINT8", batch)},
            "outputs": {"adversarial_images": ("DT_UINT8", batch)},
        },
    }
    if kind == "universal":
        expected["perturbation"] = {
            "inputs": {},
            "outputs": {"perturbation": ("DT_FLOAT", f"(1, {height}, {width}, {channels})")},
        }
    signatures.pop("__saved_model_init_op")
    assert sorted(signatures) == sorted(expected)
    for name, tensors in expected.items():
        assert signatures[name]["method"] == "tensorflow/serving/predict"
        assert signatures[name]["inputs"] == tensors["inputs"]
        assert signatures[name]["outputs"] == tensors["outputs"]
        assert {key: types_pb2.DataType.Name(tf.as_dtype(dtype).as_datatype_enum)
                for key, dtype in serving.SIGNATURE_OUTPUTS[name].items()} == {
                    key: dtype for key, (dtype, _) in tensors["outputs"].items()}
    assert "Conv2D" in ops
    assert [op for op in sorted(ops) if not hasattr(tf.raw_ops, op)] == []  # stock ops only


def _saved_model_ops(path):
    """Op types in a SavedModel's graph and its function library."""
    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as handle:
        saved.ParseFromString(handle.read())
    ops = set()
    for meta_graph in saved.meta_graphs:
        library = meta_graph.graph_def.library
        functions = {function.signature.name for function in library.function}
        nodes = list(meta_graph.graph_def.node)
        for function in library.function:
            nodes += function.node_def
        ops |= {node.op for node in nodes if node.op not in functions}
    return ops


# One export per design other than the shared exports' ResNet, each perturber
# kind once for the new design; its layers must map to ops TF Serving ships.
DESIGN_EXPORTS = [
    ("separable_resnet", "image_dependent", {"DepthwiseConv2dNative", "Conv2DBackpropInput"}),
    ("separable_resnet", "universal", {"DepthwiseConv2dNative", "Conv2DBackpropInput"}),
    ("unet", "image_dependent", {"Conv2DBackpropInput"}),
]


def test_every_design_is_exported():
    assert {generator for generator, _, _ in DESIGN_EXPORTS} | {"resnet"} == set(GENERATORS)


@pytest.mark.parametrize("generator,kind,expected_ops", DESIGN_EXPORTS)
def test_every_design_exports_with_stock_ops(generator, kind, expected_ops, tmp_path):
    image_shape, norm, epsilon = SETTINGS[kind]
    sizes = {"unet": {"depth": 2}}.get(generator, {"num_residual_blocks": 1})
    perturber = build_perturber(kind, generator, image_shape, norm, epsilon, seed=0,
                                filters=4, **sizes)
    path = serving.export_savedmodel(perturber, tmp_path, "gap")
    ops = _saved_model_ops(path)
    assert expected_ops <= ops and "Conv2D" in ops
    assert [op for op in sorted(ops) if not hasattr(tf.raw_ops, op)] == []
    loaded = tf.saved_model.load(path)
    images = images_for(kind)
    outputs = loaded.signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(outputs["adversarial_images"], perturber(images), atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_reloaded_outputs_equal_in_memory_perturber(exports, kind):
    export = exports[kind]
    images = images_for(kind)
    outputs = export.loaded.signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(outputs["adversarial_images"], export.perturber(images), atol=1e-5)
    np.testing.assert_allclose(
        outputs["perturbations"], export.perturber.perturbation(images), atol=1e-5
    )
    images_uint8 = as_uint8(images)
    adversarial_uint8 = export.loaded.signatures["serve_uint8"](
        images=tf.constant(images_uint8))["adversarial_images"].numpy()
    assert adversarial_uint8.dtype == np.uint8
    difference = np.abs(adversarial_uint8.astype(int) - expected_uint8(export.perturber,
                                                                        images_uint8))
    assert difference.max() <= 1
    if kind == "universal":
        perturbation = export.loaded.signatures["perturbation"]()["perturbation"]
        np.testing.assert_allclose(
            perturbation, export.perturber.universal_perturbation(), atol=1e-5
        )


def _sizes(perturbations, norm):
    flat = perturbations.reshape(len(perturbations), -1)
    return np.abs(flat).max(axis=1) if norm == "linf" else np.linalg.norm(flat, axis=1)


@pytest.mark.parametrize("kind", KINDS)
def test_budget_holds_on_exported_outputs(exports, kind):
    _, norm, epsilon = SETTINGS[kind]
    images = images_for(kind)
    outputs = exports[kind].loaded.signatures["serving_default"](images=tf.constant(images))
    adversarial = outputs["adversarial_images"].numpy()
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0
    for perturbation in (outputs["perturbations"].numpy(), adversarial - images):
        assert np.all(_sizes(perturbation, norm) <= epsilon * (1 + 1e-5))
    # The untrained generator overshoots, so the exported projection is active.
    np.testing.assert_allclose(_sizes(outputs["perturbations"].numpy(), norm), epsilon,
                               rtol=1e-4)
    if norm == "linf":
        images_uint8 = as_uint8(images)
        adversarial_uint8 = exports[kind].loaded.signatures["serve_uint8"](
            images=tf.constant(images_uint8))["adversarial_images"].numpy()
        change = np.abs(adversarial_uint8.astype(int) - images_uint8)
        assert change.max() <= np.ceil(epsilon * 255) + 1


def test_requests_with_wrong_dtype_rank_or_shape_are_refused(exports):
    loaded = exports["universal"].loaded
    with pytest.raises(ValueError, match="got float64"):
        serving_client.grpc_request(np.zeros((1, 28, 28, 1)), "gap")
    with pytest.raises(ValueError, match=r"rank 4 .*got shape \(28, 28, 1\)"):
        serving_client.rest_body(np.zeros((28, 28, 1), np.float32))
    float_request = serving_client.grpc_request(np.zeros((1, 28, 28, 1), np.float32), "gap",
                                                "serve_uint8")
    with pytest.raises(ValueError, match="'serve_uint8' must be uint8, got float32"):
        serving_client.predict_locally(loaded, float_request)
    rank_request = predict_pb2.PredictRequest()
    rank_request.inputs["images"].CopyFrom(tf.make_tensor_proto(np.zeros((28, 28, 1), np.float32)))
    with pytest.raises(ValueError, match=r"must have rank 4 .*got rank 3 \(28, 28, 1\)"):
        serving_client.predict_locally(loaded, rank_request)
    shape_request = serving_client.grpc_request(np.zeros((1, 16, 16, 3), np.float32), "gap")
    with pytest.raises(ValueError, match=r"shape \(None, 28, 28, 1\), got \(1, 16, 16, 3\)"):
        serving_client.predict_locally(loaded, shape_request)
    missing_request = serving_client.grpc_request(np.zeros((1, 28, 28, 1), np.float32), "gap",
                                                  "classify")
    with pytest.raises(ValueError, match="'classify' is not in the model"):
        serving_client.predict_locally(loaded, missing_request)
    no_input_request = serving_client.grpc_request(None, "gap")
    with pytest.raises(ValueError, match=r"takes inputs \['images'\], the request has \[\]"):
        serving_client.predict_locally(loaded, no_input_request)


def test_existing_version_is_never_overwritten(exports):
    export = exports["universal"]
    output, name = os.path.split(os.path.dirname(export.path))
    before = os.path.getmtime(os.path.join(export.path, "saved_model.pb"))
    with pytest.raises(ValueError, match=r"version directory .*/1' already exists"):
        serving.export_savedmodel(export.perturber, output, name, version=1)
    assert os.path.getmtime(os.path.join(export.path, "saved_model.pb")) == before
    with pytest.raises(ValueError, match="version must be an integer >= 1, got 0"):
        serving.export_savedmodel(export.perturber, output, name, version=0)
    with pytest.raises(ValueError, match="plain directory name of .*, got '../x'"):
        serving.export_savedmodel(export.perturber, output, "../x")


def test_a_mismatch_aborts_the_export(exports, tmp_path, monkeypatch):
    monkeypatch.setattr(serving, "FLOAT_TOLERANCE", -1.0)
    with pytest.raises(ValueError, match="differs from the in-memory perturber"):
        serving.export_savedmodel(exports["image_dependent"].perturber, tmp_path, "gap")
    assert os.listdir(tmp_path) == []  # no version, no leftover staging or model directory


def test_several_formats_are_written_all_or_none(perturber_file, tmp_path, monkeypatch):
    formats = ["--format", "savedmodel", "keras", "npy", "png"]
    (tmp_path / "gap.npy").write_bytes(b"kept")
    with pytest.raises(ValueError, match="gap.npy' already exists"):  # checked first
        export_main(["--perturber", perturber_file, "--output", str(tmp_path), *formats])
    assert os.listdir(tmp_path) == ["gap.npy"] and (tmp_path / "gap.npy").read_bytes() == b"kept"

    def no_space(perturber, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(serving.WRITERS, "png", no_space)  # the last one fails
    output = tmp_path / "new"
    with pytest.raises(OSError, match="No space left"):
        export_main(["--perturber", perturber_file, "--output", str(output), *formats])
    assert not output.exists()  # neither the SavedModel, the .keras nor the .npy


def test_cli_writes_layout_and_picks_the_next_version(perturber_file, tmp_path, capsys):
    arguments = ["--perturber", perturber_file, "--output", str(tmp_path), "--name", "gap"]
    assert export_main(arguments) == 0
    first = tmp_path / "gap" / "1"
    assert (first / "saved_model.pb").is_file()
    assert (first / "variables" / "variables.index").is_file()
    assert f"wrote savedmodel: {first}" in capsys.readouterr().out
    assert export_main(arguments) == 0
    assert sorted(os.listdir(tmp_path / "gap")) == ["1", "2"]
    assert f"wrote savedmodel: {tmp_path / 'gap' / '2'}" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"version directory .*gap/1' already exists"):
        export_main(arguments + ["--version", "1"])


def test_cli_writes_keras_npy_and_png(exports, perturber_file, tmp_path):
    assert export_main(["--perturber", perturber_file, "--output", str(tmp_path),
                        "--format", "keras", "npy", "png"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["gap.keras", "gap.npy", "gap.png"]
    np.testing.assert_array_equal(
        np.load(tmp_path / "gap.npy"),
        np.asarray(exports["universal"].perturber.universal_perturbation())[0],
    )
    assert Image.open(tmp_path / "gap.png").format == "PNG"
    with pytest.raises(ValueError, match="gap.npy' already exists"):
        export_main(["--perturber", perturber_file, "--output", str(tmp_path),
                     "--format", "npy"])


def test_cli_refuses_bad_input(exports, tmp_path):
    not_a_model = tmp_path / "notes.keras"
    not_a_model.write_text("not a model")
    with pytest.raises(ValueError, match="is not a readable .keras perturber"):
        export_main(["--perturber", str(not_a_model), "--output", str(tmp_path)])
    classifier = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    save_keras(classifier, tmp_path / "classifier.keras")
    with pytest.raises(ValueError, match="holds a Sequential, not a keras_gap perturber"):
        export_main(["--perturber", str(tmp_path / "classifier.keras")])
    with pytest.raises(ValueError, match="perturber file not found"):
        export_main(["--perturber", str(tmp_path / "missing.keras")])
    with pytest.raises(ValueError, match="invalid choice: 'onnx'"):
        export_main(["--perturber", "x.keras", "--format", "onnx"])
    with pytest.raises(ValueError, match="--version applies to --format savedmodel only"):
        export_main(["--perturber", "x.keras", "--format", "npy", "--version", "2"])
    save_keras(exports["image_dependent"].perturber, tmp_path / "image_dependent.keras")
    with pytest.raises(ValueError, match="'png' needs a universal perturber"):
        export_main(["--perturber", str(tmp_path / "image_dependent.keras"),
                     "--output", str(tmp_path), "--format", "png"])


def _op_types(function):
    graph = function.graph.as_graph_def()
    types = {node.op for node in graph.node}
    for library_function in graph.library.function:
        types |= {node.op for node in library_function.node_def}
    return types


def test_straight_through_scaling_exports_with_stock_ops(tmp_path):
    perturber = build_perturber("universal", "resnet", (16, 16, 3), "linf", 0.05, seed=0,
                                projection="straight_through_2018", filters=4,
                                num_residual_blocks=1)
    perturber(np.zeros((1, 16, 16, 3), np.float32))
    loaded = tf.saved_model.load(
        serving.export_savedmodel(perturber, tmp_path, "straight_through"))
    images = np.random.default_rng(2).random((3, 16, 16, 3)).astype(np.float32)
    serve = loaded.signatures["serving_default"]
    outputs = serve(images=tf.constant(images))
    np.testing.assert_allclose(outputs["adversarial_images"], perturber(images), atol=1e-5)
    per_channel = np.abs(outputs["perturbations"].numpy()).max(axis=(1, 2))
    np.testing.assert_allclose(per_channel, 0.05, rtol=1e-4)  # every channel at the budget
    types = _op_types(serve)
    assert [op for op in sorted(types) if not hasattr(tf.raw_ops, op)] == []


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_mixed_precision_perturber_exports_float32_signatures(kind, precision, tmp_path):
    image_shape, norm, epsilon = SETTINGS[kind]
    with mixed_precision_scope(precision):
        perturber = build_perturber(kind, "resnet", image_shape, norm, epsilon, seed=0,
                                    filters=4, num_residual_blocks=1)
    assert perturber.generator.layers[-1].compute_dtype == precision
    path = serving.export_savedmodel(perturber, tmp_path, "gap")  # verified on reload
    loaded = tf.saved_model.load(path)
    for name, outputs in serving.SIGNATURE_OUTPUTS.items():
        if name not in loaded.signatures:
            continue
        signature = loaded.signatures[name]
        inputs = signature.structured_input_signature[1]
        assert {k: v.dtype for k, v in inputs.items()} == (
            {} if name == "perturbation"
            else {"images": tf.uint8 if name == "serve_uint8" else tf.float32})
        assert {k: v.dtype.name for k, v in signature.structured_outputs.items()} == outputs
    images = images_for(kind)
    result = loaded.signatures["serving_default"](images=tf.constant(images))
    assert result["adversarial_images"].dtype == tf.float32
    assert _sizes(result["perturbations"].numpy(), norm).max() <= epsilon * (1 + 1e-6)
