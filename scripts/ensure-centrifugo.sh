#!/usr/bin/env bash
# Makes sure the Centrifugo binary the bench compares against is built: `go install` of the
# published Go module (nothing of its source lives in this repository) into <repo>/.tools/bin
# (gitignored). Idempotent and fast when the binary is there with the right version; prints its
# path on stdout, progress on stderr.
#   scripts/ensure-centrifugo.sh                   # -> /…/.tools/bin/centrifugo
#   CENTRIFUGO_VERSION=v6.9.1 scripts/ensure-centrifugo.sh
set -euo pipefail

version="${CENTRIFUGO_VERSION:-v6.9.1}"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="$repo_root/.tools/bin"
bin="$bin_dir/centrifugo"
stamp="$bin_dir/centrifugo.version"

if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null 2>&1 || { echo "ensure-centrifugo.sh: the Go toolchain is needed (go install)" >&2; exit 1; }
mkdir -p "$bin_dir"
# One build at a time (the smoke test and a bench run may race): the second waits, then finds it.
exec 9>"$bin_dir/.centrifugo.lock"
flock 9
if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
  echo "$bin"
  exit 0
fi

echo "ensure-centrifugo.sh: go install github.com/centrifugal/centrifugo/v6@$version (once; a few minutes)" >&2
started=$(date +%s)
work="$(mktemp -d "$bin_dir/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# As its release builds are made: static, stripped, the version stamped in.
GOBIN="$work" GOFLAGS="${GOFLAGS:-} -trimpath" CGO_ENABLED=0 go install \
  -ldflags "-s -w -X github.com/centrifugal/centrifugo/v6/internal/build.Version=${version#v}" \
  "github.com/centrifugal/centrifugo/v6@$version"
"$work/centrifugo" version >&2
mv -f "$work/centrifugo" "$bin"
echo "$version" >"$stamp"
echo "ensure-centrifugo.sh: built in $(($(date +%s) - started)) s" >&2
echo "$bin"
