#!/usr/bin/env bash
# Usage: ./run.sh COMMAND [ARGS...]
#
# Installs what keras_gap needs on a Debian machine (once; later calls skip
# what is already there), then runs COMMAND inside the project's virtual
# environment. Examples:
#   ./run.sh python -m train.universal      # the main job, built-in default
#   ./run.sh python -m pytest               # the test suite
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
VENV=${KERAS_GAP_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else return 1
  fi
}

apt_install() {
  echo "run.sh: installing Debian packages: $*" >&2
  as_root apt-get update -qq &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# 1. Fashion-MNIST, from Debian's dataset-fashion-mnist package.
if [ -z "${KERAS_GAP_FASHION_MNIST_DIR:-}" ] &&
   [ ! -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then
  apt_install dataset-fashion-mnist || {
    echo "run.sh: error: could not install Fashion-MNIST. Run" \
         "'sudo apt-get install dataset-fashion-mnist', or set" \
         "KERAS_GAP_FASHION_MNIST_DIR to a folder with its four *-ubyte.gz files." >&2
    exit 1
  }
fi

# 2. Python 3.11+ with venv.
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  apt_install python3 python3-venv python3-pip
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "run.sh: error: keras_gap needs Python >= 3.11; $PYTHON is $("$PYTHON" -V 2>&1)" >&2
  exit 1
fi
if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  apt_install python3-venv
fi

# 3. The virtual environment and the Python packages.
if [ ! -x "$VENV/bin/python" ]; then
  echo "run.sh: creating the virtual environment $VENV" >&2
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.keras_gap-requirements"
wanted=$(cat requirements.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  echo "run.sh: installing Python packages from requirements.txt (a few minutes the first time)" >&2
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -r requirements.txt
  echo "$wanted" > "$stamp"
fi

export PATH="$VENV/bin:$PATH"
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
exec "$@"
