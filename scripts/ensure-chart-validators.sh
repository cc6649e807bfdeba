#!/usr/bin/env bash
# Installs the Python validators the chart tests run (charts/tests/src/validators.test.ts) into a
# virtual environment at <repo>/.tools/venv, only when they are missing or at another version.
#   scripts/ensure-chart-validators.sh          # idempotent; about 1 s when already installed
#   CHART_VENV=/elsewhere scripts/ensure-chart-validators.sh
# Prints one line per step and exits non-zero with the reason when a step fails.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CHART_VENV:-$repo_root/.tools/venv}"
python="${PYTHON:-python3}"

# Pinned: a new checkov release adds checks, so an upgrade is a deliberate change of this line
# (and of the skips documented in charts/chat/README.md).
KUBERNETES_VALIDATE_VERSION="1.37.0"
CHECKOV_VERSION="3.3.30"

step() { printf 'ensure-chart-validators: %s\n' "$*"; }
die() {
  printf 'ensure-chart-validators: FAILED: %s\n' "$*" >&2
  exit 1
}

command -v "$python" >/dev/null 2>&1 || die "$python not found (Python >= 3.9 is needed for the chart validators)"
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' ||
  die "$("$python" --version 2>&1) is too old; Python >= 3.9 is needed"

if [[ ! -x "$venv/bin/python" ]]; then
  step "creating virtual environment $venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv" || die "python -m venv $venv failed (on Debian/Ubuntu: apt-get install python3-venv)"
else
  step "virtual environment $venv exists"
fi

installed_version() { # <distribution>
  "$venv/bin/python" - "$1" <<'PY' 2>/dev/null || true
import sys
from importlib.metadata import PackageNotFoundError, version
try:
    print(version(sys.argv[1]))
except PackageNotFoundError:
    pass
PY
}

ensure() { # <distribution> <version> <command>
  local dist="$1" want="$2" cmd="$3" have
  have="$(installed_version "$dist")"
  if [[ "$have" == "$want" && -x "$venv/bin/$cmd" ]]; then
    step "$dist $want already installed"
    return
  fi
  step "installing $dist==$want${have:+ (found $have)}"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$dist==$want" ||
    die "pip install $dist==$want failed (is PyPI reachable? see the pip output above)"
  [[ -x "$venv/bin/$cmd" ]] || die "$dist installed but $venv/bin/$cmd is missing"
}

ensure kubernetes-validate "$KUBERNETES_VALIDATE_VERSION" kubernetes-validate
ensure checkov "$CHECKOV_VERSION" checkov

"$venv/bin/kubernetes-validate" --version >/dev/null 2>&1 || die "kubernetes-validate does not run from $venv"
step "ready: $venv/bin/kubernetes-validate, $venv/bin/checkov"
