"""The serving client against exported perturbers, without TF Serving.

TF Serving itself cannot be installed here: requests are run through the
reloaded SavedModel's signatures, and the client program talks to loopback
REST and gRPC emulators that follow TF Serving's request semantics.
"""

import http.server
import json
import threading
from concurrent import futures

import grpc
import numpy as np
import pytest
from PIL import Image
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from export import serving_client as client_program
from keras_gap.serving import client as serving_client
from keras_gap.serving import export as serving
from serving_helpers import KINDS
from serving_helpers import as_uint8
from serving_helpers import expected_uint8
from serving_helpers import images_for


@pytest.mark.parametrize("kind", KINDS)
def test_grpc_request_runs_through_signature(exports, kind):
    export = exports[kind]
    images_uint8 = as_uint8(images_for(kind))
    request = serving_client.grpc_request(images_uint8, "gap", "serve_uint8", version=1)
    wire = predict_pb2.PredictRequest.FromString(request.SerializeToString())
    response = serving_client.predict_locally(export.loaded, wire)
    assert response.model_spec.name == "gap" and response.model_spec.version.value == 1
    outputs = serving_client.parse_grpc_response(response)
    difference = outputs["adversarial_images"].astype(int) - expected_uint8(
        export.perturber, images_uint8)
    assert np.abs(difference).max() <= 1

    images = images_for(kind)
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
    images = images_for("image_dependent", count=2)
    if signature_name == "serve_uint8":
        images = as_uint8(images)
    body = json.loads(json.dumps(serving_client.rest_body(images, signature_name, form)))
    assert body["signature_name"] == signature_name and (form in body)
    answer = json.loads(json.dumps(_emulate_rest_predict(export.loaded, body)))
    outputs = serving_client.parse_rest_response(answer, signature_name)
    assert {key: str(value.dtype) for key, value in outputs.items()} == (
        serving.SIGNATURE_OUTPUTS[signature_name])
    if signature_name == "serve_uint8":
        difference = outputs["adversarial_images"].astype(int) - expected_uint8(
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
    clean = as_uint8(images_for("universal", count=1))[0]
    Image.fromarray(clean[..., 0]).save(tmp_path / "clean.png")
    output = tmp_path / "adversarial.png"
    assert client_program.main([
        str(tmp_path / "clean.png"), str(output), "--grayscale",
        f"--{protocol}", emulated_servers[protocol],
    ]) == 0
    assert "wrote" in capsys.readouterr().out
    adversarial = np.asarray(Image.open(output))[np.newaxis, ..., np.newaxis]
    expected = expected_uint8(exports["universal"].perturber, clean[np.newaxis])
    assert np.abs(adversarial.astype(int) - expected).max() <= 1


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_client_main_reports_server_errors(emulated_servers, tmp_path, protocol):
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "clean.png")
    with pytest.raises(ValueError, match="Servable not found"):
        client_program.main([str(tmp_path / "clean.png"), str(tmp_path / "out.png"),
                             "--grayscale", "--model", "other",
                             f"--{protocol}", emulated_servers[protocol]])
    assert not (tmp_path / "out.png").exists()
