"""SavedModel export for TF Serving, its CLI and the serving client.

TF Serving itself cannot be installed here: signatures are checked with
``saved_model_cli show --all``, requests are run through the reloaded
SavedModel's signatures, and the client's ``main`` talks to loopback REST and
gRPC emulators that follow TF Serving's request semantics.
"""

import http.server
import json
import os
import re
import subprocess
import threading
from concurrent import futures

import grpc
import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from export.savedmodel import main as export_main
from export import serving_client as client_program
from keras_gap.serving import client as serving_client
from keras_gap.serving import export as serving
from keras_gap.artifacts import save_keras
from keras_gap.generators import GENERATORS
from keras_gap.training.attack_run import build_perturber

# kind -> (image shape, norm, epsilon)
SETTINGS = {
    "universal": ((28, 28, 1), "linf", 0.1),
    "image_dependent": ((16, 16, 3), "l2", 0.5),
}
KINDS = sorted(SETTINGS)


def _tiny_perturber(kind):
    image_shape, norm, epsilon = SETTINGS[kind]
    perturber = build_perturber(
        kind, "resnet", image_shape, norm, epsilon, seed=0, filters=4, num_residual_blocks=1
    )
    perturber(np.zeros((1, *image_shape), np.float32))
    return perturber


class Export:
    def __init__(self, perturber, path):
        self.perturber = perturber
        self.path = path
        self.loaded = tf.saved_model.load(path)  # kept alive: see stack notes 3c


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    output = tmp_path_factory.mktemp("serving")
    result = {}
    for kind in KINDS:
        perturber = _tiny_perturber(kind)
        result[kind] = Export(perturber, serving.export_savedmodel(perturber, output, kind))
    return result


@pytest.fixture(scope="module")
def perturber_file(tmp_path_factory, exports):
    path = tmp_path_factory.mktemp("run") / "perturber.keras"
    save_keras(exports["universal"].perturber, path)
    return str(path)


def _images(kind, count=3, seed=1):
    return np.random.default_rng(seed).random((count, *SETTINGS[kind][0]), np.float32)


def _as_uint8(images):
    return np.round(np.clip(np.asarray(images) * 255.0, 0.0, 255.0)).astype(np.uint8)


def _expected_uint8(perturber, images_uint8):
    return _as_uint8(perturber(images_uint8.astype(np.float32) / 255.0))


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


# One export per design other than the fixture's ResNet, each perturber kind
# once; the new layers must map to ops TF Serving ships.
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
    images = _images(kind)
    outputs = loaded.signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(outputs["adversarial_images"], perturber(images), atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_reloaded_outputs_equal_in_memory_perturber(exports, kind):
    export = exports[kind]
    images = _images(kind)
    outputs = export.loaded.signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(outputs["adversarial_images"], export.perturber(images), atol=1e-5)
    np.testing.assert_allclose(
        outputs["perturbations"], export.perturber.perturbation(images), atol=1e-5
    )
    images_uint8 = _as_uint8(images)
    adversarial_uint8 = export.loaded.signatures["serve_uint8"](
        images=tf.constant(images_uint8))["adversarial_images"].numpy()
    assert adversarial_uint8.dtype == np.uint8
    difference = np.abs(adversarial_uint8.astype(int) - _expected_uint8(export.perturber,
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
    images = _images(kind)
    outputs = exports[kind].loaded.signatures["serving_default"](images=tf.constant(images))
    adversarial = outputs["adversarial_images"].numpy()
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0
    for perturbation in (outputs["perturbations"].numpy(), adversarial - images):
        assert np.all(_sizes(perturbation, norm) <= epsilon * (1 + 1e-5))
    # The untrained generator overshoots, so the exported projection is active.
    np.testing.assert_allclose(_sizes(outputs["perturbations"].numpy(), norm), epsilon,
                               rtol=1e-4)
    if norm == "linf":
        images_uint8 = _as_uint8(images)
        adversarial_uint8 = exports[kind].loaded.signatures["serve_uint8"](
            images=tf.constant(images_uint8))["adversarial_images"].numpy()
        change = np.abs(adversarial_uint8.astype(int) - images_uint8)
        assert change.max() <= np.ceil(epsilon * 255) + 1


@pytest.mark.parametrize("kind", KINDS)
def test_grpc_request_runs_through_signature(exports, kind):
    export = exports[kind]
    images_uint8 = _as_uint8(_images(kind))
    request = serving_client.grpc_request(images_uint8, "gap", "serve_uint8", version=1)
    wire = predict_pb2.PredictRequest.FromString(request.SerializeToString())
    response = serving_client.predict_locally(export.loaded, wire)
    assert response.model_spec.name == "gap" and response.model_spec.version.value == 1
    outputs = serving_client.parse_grpc_response(response)
    difference = outputs["adversarial_images"].astype(int) - _expected_uint8(
        export.perturber, images_uint8)
    assert np.abs(difference).max() <= 1

    images = _images(kind)
    request = serving_client.grpc_request(images, "gap")
    request.output_filter.append("perturbations")
    outputs = serving_client.parse_grpc_response(
        serving_client.predict_locally(export.loaded, request))
    assert list(outputs) == ["perturbations"]
    np.testing.assert_allclose(
        outputs["perturbations"], export.perturber.perturbation(images), atol=1e-5
    )
    if kind == "universal":
        request = serving_client.grpc_request(None, "gap", "perturbation")
        outputs = serving_client.parse_grpc_response(
            serving_client.predict_locally(export.loaded, request))
        np.testing.assert_allclose(
            outputs["perturbation"], export.perturber.universal_perturbation(), atol=1e-5
        )


def _emulate_rest_predict(loaded, body):
    """TF Serving's REST ``:predict`` semantics (api_rest.md) over the signature."""
    signature_name = body.get("signature_name", "serving_default")
    if ("instances" in body) == ("inputs" in body):
        return {"error": "Missing 'inputs' or 'instances' key"}
    specs = loaded.signatures[signature_name].structured_input_signature[1]
    row_form = "instances" in body
    values = body["instances"] if row_form else body["inputs"]
    if isinstance(values, dict):
        values = values[serving.INPUT_NAME]
    elif row_form and isinstance(values[0], dict):
        values = [row[serving.INPUT_NAME] for row in values]
    images = np.asarray(values, specs[serving.INPUT_NAME].dtype.as_numpy_dtype)
    request = serving_client.grpc_request(images, "gap", signature_name)
    try:
        response = serving_client.predict_locally(loaded, request)
    except ValueError as error:
        return {"error": str(error)}
    outputs = {key: value.tolist()
               for key, value in serving_client.parse_grpc_response(response).items()}
    if row_form:
        if len(outputs) == 1:
            return {"predictions": next(iter(outputs.values()))}
        return {"predictions": [dict(zip(outputs, row)) for row in zip(*outputs.values())]}
    return {"outputs": next(iter(outputs.values())) if len(outputs) == 1 else outputs}


@pytest.mark.parametrize("form", serving_client.REST_FORMS)
@pytest.mark.parametrize("signature_name", ["serving_default", "serve_uint8"])
def test_rest_bodies_round_trip(exports, form, signature_name):
    export = exports["image_dependent"]
    images = _images("image_dependent", count=2)
    if signature_name == "serve_uint8":
        images = _as_uint8(images)
    body = json.loads(json.dumps(serving_client.rest_body(images, signature_name, form)))
    assert body["signature_name"] == signature_name and (form in body)
    answer = json.loads(json.dumps(_emulate_rest_predict(export.loaded, body)))
    outputs = serving_client.parse_rest_response(answer, signature_name)
    assert {key: str(value.dtype) for key, value in outputs.items()} == (
        serving.SIGNATURE_OUTPUTS[signature_name])
    if signature_name == "serve_uint8":
        difference = outputs["adversarial_images"].astype(int) - _expected_uint8(
            export.perturber, images)
        assert np.abs(difference).max() <= 1
    else:
        np.testing.assert_allclose(
            outputs["adversarial_images"], export.perturber(images), atol=1e-5
        )


def test_rest_url_and_error_answer():
    assert serving_client.rest_url("localhost:8501", "gap") == (
        "http://localhost:8501/v1/models/gap:predict")
    assert serving_client.rest_url("host:1", "gap", 3) == (
        "http://host:1/v1/models/gap/versions/3:predict")
    with pytest.raises(ValueError, match="Servable not found"):
        serving_client.parse_rest_response({"error": "Servable not found for request"})
    with pytest.raises(ValueError, match="'predictions' or 'outputs'"):
        serving_client.parse_rest_response({"result": []})
    with pytest.raises(ValueError, match="'inputs_and_instances'"):
        serving_client.rest_body(np.zeros((1, 2, 2, 1), np.float32), form="inputs_and_instances")


def _serve_rest(loaded):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            found = self.path == "/v1/models/gap:predict"
            answer = _emulate_rest_predict(loaded, body) if found else {
                "error": f"Servable not found for path {self.path}"}
            payload = json.dumps(answer).encode()
            self.send_response(400 if "error" in answer else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *arguments):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, loaded):
        self.loaded = loaded

    def Predict(self, request, context):
        if request.model_spec.name != "gap":
            context.abort(grpc.StatusCode.NOT_FOUND,
                          f"Servable not found for request: {request.model_spec.name}")
        try:
            return serving_client.predict_locally(self.loaded, request)
        except ValueError as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))


@pytest.fixture(scope="module")
def emulated_servers(exports):
    loaded = exports["universal"].loaded
    rest = _serve_rest(loaded)
    rpc = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        _PredictionService(loaded), rpc)
    grpc_port = rpc.add_insecure_port("127.0.0.1:0")
    rpc.start()
    yield {"rest": f"127.0.0.1:{rest.server_address[1]}", "grpc": f"127.0.0.1:{grpc_port}"}
    rest.shutdown()
    rpc.stop(0)


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_client_main_sends_an_image_file(exports, emulated_servers, tmp_path, capsys, protocol):
    clean = _as_uint8(_images("universal", count=1))[0]
    Image.fromarray(clean[..., 0]).save(tmp_path / "clean.png")
    output = tmp_path / "adversarial.png"
    assert client_program.main([
        str(tmp_path / "clean.png"), str(output), "--grayscale",
        f"--{protocol}", emulated_servers[protocol],
    ]) == 0
    assert "wrote" in capsys.readouterr().out
    adversarial = np.asarray(Image.open(output))[np.newaxis, ..., np.newaxis]
    expected = _expected_uint8(exports["universal"].perturber, clean[np.newaxis])
    assert np.abs(adversarial.astype(int) - expected).max() <= 1


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_client_main_reports_server_errors(emulated_servers, tmp_path, protocol):
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "clean.png")
    with pytest.raises(ValueError, match="Servable not found"):
        client_program.main([str(tmp_path / "clean.png"), str(tmp_path / "out.png"),
                             "--grayscale", "--model", "other",
                             f"--{protocol}", emulated_servers[protocol]])
    assert not (tmp_path / "out.png").exists()


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
    with pytest.raises(ValueError, match="plain directory name, got '../x'"):
        serving.export_savedmodel(export.perturber, output, "../x")


def test_a_mismatch_aborts_the_export(exports, tmp_path, monkeypatch):
    monkeypatch.setattr(serving, "FLOAT_TOLERANCE", -1.0)
    with pytest.raises(ValueError, match="differs from the in-memory perturber"):
        serving.export_savedmodel(exports["image_dependent"].perturber, tmp_path, "gap")
    assert os.listdir(tmp_path / "gap") == []  # no version, no leftover staging directory


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
