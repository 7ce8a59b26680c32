"""Send an image to TF Serving hosting an exported perturber: ``python -m export.serving_client --help``.

Send an image file to a running server and save the adversarial image it
returns (signature ``serve_uint8``)::

    python -m export.serving_client shirt.png adversarial.png
    python -m export.serving_client shirt.png adversarial.png --grpc localhost:8500

The image must have the model's height and width; ``--grayscale`` sends one
channel.
"""

import argparse
import sys

import numpy as np
from PIL import Image

from keras_gap.artifacts import atomic_path
from keras_gap.cli import POSITIVE_INT
from keras_gap.cli import run_program
from keras_gap.serving.client import grpc_request
from keras_gap.serving.client import load_image
from keras_gap.serving.client import parse_grpc_response
from keras_gap.serving.client import parse_rest_response
from keras_gap.serving.client import post_rest
from keras_gap.serving.client import predict_grpc
from keras_gap.serving.client import rest_body
from keras_gap.serving.client import rest_url


def parser():
    """The program's flags."""
    parser = argparse.ArgumentParser(
        prog="python -m export.serving_client", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("image", help="image file (PNG, JPEG, ...) to perturb")
    parser.add_argument("output", help="where to write the adversarial image (PNG)")
    parser.add_argument("--rest", default="localhost:8501", metavar="HOST:PORT",
                        help="TF Serving's REST address (default: %(default)s)")
    parser.add_argument("--grpc", metavar="HOST:PORT",
                        help="use gRPC at this address instead of REST (TF Serving: port 8500)")
    parser.add_argument("--model", default="gap", help="model name (default: %(default)s)")
    parser.add_argument("--version", type=POSITIVE_INT,
                        help="model version (default: the latest the server loaded)")
    parser.add_argument("--grayscale", action="store_true",
                        help="send one channel, for 1-channel models such as Fashion-MNIST")
    return parser


def main(argv=None):
    arguments = parser().parse_args(argv)

    images = load_image(arguments.image, arguments.grayscale)
    if arguments.grpc:
        request = grpc_request(images, arguments.model, "serve_uint8", arguments.version)
        outputs = parse_grpc_response(predict_grpc(arguments.grpc, request))
    else:
        url = rest_url(arguments.rest, arguments.model, arguments.version)
        answer = post_rest(url, rest_body(images, "serve_uint8"))
        outputs = parse_rest_response(answer, "serve_uint8")
    adversarial = outputs["adversarial_images"][0]
    with atomic_path(arguments.output) as temporary:
        Image.fromarray(np.squeeze(adversarial, axis=-1) if arguments.grayscale
                        else adversarial).save(temporary, format="PNG")
    print(f"wrote {arguments.output} ({adversarial.shape[1]}x{adversarial.shape[0]} adversarial "
          f"image from {arguments.grpc or url})")
    return 0


if __name__ == "__main__":
    sys.exit(run_program(main))
