#!/bin/sh
# Generate Python code for the wire contract into $1 (default gossip/transport/_pb).
# protoc runs from protos/ so that the descriptor is registered (and served by
# reflection) under its repository path, gossip/v1/gossip.proto. protoc writes
# the modules under gossip/v1/ of a scratch directory; they are moved into $out,
# and the generated grpc module's absolute import of its messages is rewritten
# to a relative one so the code lives inside our package. The messages' field
# tables (gossip_schema.py) are written from the generated descriptor.
set -eu
out=${1:-gossip/transport/_pb}
BIN=${BIN:-.venv/bin}
mkdir -p "$out"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$BIN/python" -m grpc_tools.protoc -I protos \
  --python_out="$scratch" --pyi_out="$scratch" --grpc_python_out="$scratch" \
  protos/gossip/v1/gossip.proto
for f in gossip_pb2.py gossip_pb2.pyi gossip_pb2_grpc.py; do
  mv "$scratch/gossip/v1/$f" "$out/$f"
done
sed -i 's/^from gossip\.v1 import gossip_pb2 as gossip_dot_v1_dot_gossip__pb2$/from . import gossip_pb2 as gossip_dot_v1_dot_gossip__pb2/' "$out/gossip_pb2_grpc.py"
# field tables for gossip.transport.lightpb (gossip-ctl decodes Status without protobuf's runtime)
"$BIN/python" scripts/gen_schema.py "$out"
