#!/bin/sh
# Generate Python code for the wire contract into $1 (default gossip/transport/_pb).
# The generated grpc module imports its messages absolutely; rewrite that to a
# relative import so the code lives inside our package.
set -eu
out=${1:-gossip/transport/_pb}
BIN=${BIN:-.venv/bin}
mkdir -p "$out"
"$BIN/python" -m grpc_tools.protoc -I protos/gossip/v1 \
  --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  protos/gossip/v1/gossip.proto
sed -i 's/^import gossip_pb2 as gossip__pb2$/from . import gossip_pb2 as gossip__pb2/' "$out/gossip_pb2_grpc.py"
