#!/usr/bin/env bash
# Regenerates the protobuf-c code of Sources/CLSTMProto from schema/*.proto.
# The generated files are committed and never edited by hand; the test
# `GeneratedCodeTests` fails when they are stale against the schema.
#   tools/generate_proto.sh            write into Sources/CLSTMProto
#   tools/generate_proto.sh DIR        write into DIR/{*.c,include/*.h} (used by the staleness test)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/Sources/CLSTMProto}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v protoc-c >/dev/null || { echo "protoc-c not found: apt-get install protobuf-c-compiler" >&2; exit 1; }
for proto in lstmtool.proto onnx_subset.proto; do
  protoc-c --proto_path="$root/schema" --c_out="$tmp" "$root/schema/$proto"
done
mkdir -p "$out/include"
for f in "$tmp"/*.pb-c.c; do cp "$f" "$out/"; done
for f in "$tmp"/*.pb-c.h; do cp "$f" "$out/include/"; done
