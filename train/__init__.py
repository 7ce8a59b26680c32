"""Command-line programs: ``python -m train.<program> --help``.

Importing this package hides TensorFlow's C++ start-up chatter (unless the
user set ``TF_CPP_MIN_LOG_LEVEL``): it runs before any program imports
TensorFlow.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
