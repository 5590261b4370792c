#!/usr/bin/env bash
# Build the llama-cpp-python wheel once and keep it in $WHEELS, so later installs
# (a new virtualenv, CI on the same machine) take seconds instead of minutes.
# On a fresh machine this compiles llama.cpp from the PyPI source distribution.
set -euo pipefail
: "${WHEELS:?}" "${LLAMA_CPP_VERSION:?}" "${PIP:?}"
mkdir -p "$WHEELS"
if ls "$WHEELS"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl >/dev/null 2>&1; then
  exit 0
fi
echo "Building llama-cpp-python $LLAMA_CPP_VERSION from source (several minutes on 2 cores; done once)..."
CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
  "$PIP" wheel --quiet --no-deps --wheel-dir "$WHEELS" "llama-cpp-python==$LLAMA_CPP_VERSION"
