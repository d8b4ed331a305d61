#!/usr/bin/env bash
# Builds the DocC documentation of the library (Sources/LSTMKit/LSTMKit.docc and every doc
# comment) and fails on any warning: broken symbol links, undocumented parameters.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
swift package generate-documentation --target LSTMKit >"$log" 2>&1 || { tail -30 "$log"; exit 1; }
if grep -iE "^(warning|error)|: (warning|error):" "$log"; then
  echo "DocC: the documentation has warnings (above)"
  exit 1
fi
echo "DocC: LSTMKit documentation built with no warnings"
