"""Requests for TF Serving hosting a perturber exported by ``export.savedmodel``.

The program ``python -m export.serving_client`` uses it to send an image file
to a running server. REST bodies follow TF Serving's ``:predict`` API (``instances`` row
form or ``inputs`` columnar form); gRPC requests are the official
``tensorflow_serving.apis.predict_pb2.PredictRequest``. ``predict_locally``
runs such a request through a loaded SavedModel's signature, without a server.
"""

import json
import urllib.error
import urllib.request

import grpc
import numpy as np
import tensorflow as tf
from PIL import Image
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from keras_gap.serving.export import INPUT_NAME
from keras_gap.serving.export import SIGNATURE_OUTPUTS

REST_FORMS = ("instances", "inputs")
REQUEST_DTYPES = (np.float32, np.uint8)


def _check_images(images):
    images = np.asarray(images)
    if images.dtype not in REQUEST_DTYPES:
        raise ValueError(
            f"images must be float32 in [0, 1] or uint8 in [0, 255], got {images.dtype}"
        )
    if images.ndim != 4:
        raise ValueError(
            f"images must have rank 4 [batch, height, width, channels], got shape {images.shape}"
        )
    return images


def rest_url(server, model_name, version=None):
    """``http://SERVER/v1/models/NAME[/versions/N]:predict``."""
    version_part = "" if version is None else f"/versions/{version}"
    return f"http://{server}/v1/models/{model_name}{version_part}:predict"


def rest_body(images, signature_name="serving_default", form="instances"):
    """The JSON body (a dict) of a REST ``:predict`` request for ``images``
    [batch, H, W, C]: ``instances`` lists one image per row, ``inputs`` holds
    the whole batch under the input name."""
    if form not in REST_FORMS:
        raise ValueError(f"form must be one of {list(REST_FORMS)}, got {form!r}")
    images = _check_images(images).tolist()
    if form == "instances":
        return {"signature_name": signature_name, "instances": images}
    return {"signature_name": signature_name, "inputs": {INPUT_NAME: images}}


def parse_rest_response(response, signature_name="serving_default"):
    """Output name -> numpy array, from the JSON (a dict) TF Serving answered."""
    if signature_name not in SIGNATURE_OUTPUTS:
        raise ValueError(
            f"signature must be one of {sorted(SIGNATURE_OUTPUTS)}, got {signature_name!r}"
        )
    dtypes = SIGNATURE_OUTPUTS[signature_name]
    if "error" in response:
        raise ValueError(f"TF Serving answered an error: {response['error']}")
    if "predictions" in response:
        rows = response["predictions"]
        outputs = (
            {key: [row[key] for row in rows] for key in rows[0]}
            if rows and isinstance(rows[0], dict) else rows
        )
    elif "outputs" in response:
        outputs = response["outputs"]
    else:
        raise ValueError(
            f"a :predict response holds 'predictions' or 'outputs', got keys {sorted(response)}"
        )
    if not isinstance(outputs, dict):  # a single output is sent without its name
        outputs = {next(iter(dtypes)): outputs}
    return {key: np.asarray(value, dtype=dtypes[key]) for key, value in outputs.items()}


def grpc_request(images, model_name="gap", signature_name="serving_default", version=None):
    """A ``PredictRequest`` for ``images``; ``images=None`` for the input-less
    ``perturbation`` signature."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = version
    if images is not None:
        request.inputs[INPUT_NAME].CopyFrom(tf.make_tensor_proto(_check_images(images)))
    return request


def parse_grpc_response(response):
    """Output name -> numpy array, from a ``PredictResponse``."""
    return {key: tf.make_ndarray(tensor) for key, tensor in response.outputs.items()}


def predict_locally(loaded, request):
    """Runs ``request`` through the signature it names in ``loaded`` (the
    object ``tf.saved_model.load`` returned), checking input names, dtypes and
    shapes; returns the ``PredictResponse``."""
    signature_name = request.model_spec.signature_name or "serving_default"
    if signature_name not in loaded.signatures:
        raise ValueError(
            f"signature {signature_name!r} is not in the model; it has "
            f"{sorted(loaded.signatures)}"
        )
    signature = loaded.signatures[signature_name]
    specs = signature.structured_input_signature[1]
    if set(request.inputs) != set(specs):
        raise ValueError(
            f"signature {signature_name!r} takes inputs {sorted(specs)}, the request "
            f"has {sorted(request.inputs)}"
        )
    feeds = {}
    for key, spec in specs.items():
        array = tf.make_ndarray(request.inputs[key])
        if array.dtype != spec.dtype.as_numpy_dtype:
            raise ValueError(
                f"input {key!r} of signature {signature_name!r} must be "
                f"{spec.dtype.name}, got {array.dtype}"
            )
        if array.ndim != spec.shape.rank:
            raise ValueError(
                f"input {key!r} of signature {signature_name!r} must have rank "
                f"{spec.shape.rank} {spec.shape}, got rank {array.ndim} {array.shape}"
            )
        if not spec.shape.is_compatible_with(array.shape):
            raise ValueError(
                f"input {key!r} of signature {signature_name!r} must have shape "
                f"{spec.shape}, got {array.shape}"
            )
        feeds[key] = tf.constant(array)
    outputs = signature(**feeds)
    unknown = sorted(set(request.output_filter) - set(outputs))
    if unknown:
        raise ValueError(f"output_filter names unknown outputs {unknown}")
    response = predict_pb2.PredictResponse()
    response.model_spec.CopyFrom(request.model_spec)
    response.model_spec.signature_name = signature_name
    for key in request.output_filter or outputs:
        response.outputs[key].CopyFrom(tf.make_tensor_proto(outputs[key].numpy()))
    return response


def post_rest(url, body, timeout=60.0):
    """POSTs ``body`` as JSON to ``url`` and returns the decoded answer."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        raise ValueError(f"{url} answered HTTP {error.code}: {detail}") from None
    except urllib.error.URLError as error:
        raise ValueError(f"cannot reach {url}: {error.reason}") from None


def predict_grpc(server, request, timeout=60.0):
    """Sends ``request`` to TF Serving's gRPC port at ``server`` (HOST:PORT)."""
    with grpc.insecure_channel(server) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            return stub.Predict(request, timeout=timeout)
        except grpc.RpcError as error:
            raise ValueError(
                f"gRPC Predict at {server} failed: {error.code().name}: {error.details()}"
            ) from None


def load_image(path, grayscale=False):
    """An image file as uint8 [1, H, W, C] (C = 1 with ``grayscale``, else 3)."""
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("L" if grayscale else "RGB"), np.uint8)
    except OSError as error:
        raise ValueError(f"cannot read image {path!r}: {error}") from None
    if grayscale:
        pixels = pixels[..., np.newaxis]
    return pixels[np.newaxis]
