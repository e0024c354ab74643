#!/usr/bin/env bash
# Runs every Fuzz target in the module briefly (FUZZTIME each, an execution
# count by default so the run does not depend on machine load) on top of its
# committed seed corpus: a quick check that no parser panics on mutated input.
# `go test -fuzz` with a duration sometimes ends with a spurious "context
# deadline exceeded" (golang/go#48127-like); such a run is retried once,
# any other failure is reported with its failing input.
set -euo pipefail
FUZZTIME=${FUZZTIME:-50000x}
for pkg in $(go list ./...); do
  for fn in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    log=$(mktemp)
    echo "fuzz $pkg $fn ($FUZZTIME)"
    for try in 1 2; do
      if go test -run '^$' -fuzz "^${fn}\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1; then
        break
      fi
      if [ "$try" = 1 ] && grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
        echo "  spurious deadline error from the fuzzing engine; retrying"
        continue
      fi
      cat "$log"; rm -f "$log"; exit 1
    done
    rm -f "$log"
  done
done
