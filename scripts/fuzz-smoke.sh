#!/usr/bin/env bash
# Runs every Fuzz target in the module briefly (FUZZTIME each) on top of its
# committed seed corpus: a quick check that no parser panics on mutated input.
set -euo pipefail
FUZZTIME=${FUZZTIME:-5s}
for pkg in $(go list ./...); do
  for fn in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "fuzz $pkg $fn ($FUZZTIME)"
    go test -run '^$' -fuzz "^${fn}\$" -fuzztime "$FUZZTIME" "$pkg" >/tmp/fuzz-$fn.log 2>&1 || { cat /tmp/fuzz-$fn.log; exit 1; }
  done
done
