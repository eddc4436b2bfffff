#!/usr/bin/env bash
# The install a bench PC gets, checked end to end (docs/howto.md, "Install"): a wheel built from
# a clean export of HEAD, installed into a fresh virtual environment (no system site-packages),
# used from an unrelated folder.
#
#   tools/check_wheel.sh           base install: sweep, inspect, report; torch and Qt never imported
#   tools/check_wheel.sh --train   also the `train` extra: labctl reproduce --sim --quick
#   tools/check_wheel.sh --worktree   build from the working tree's files instead of HEAD
#
# Needs git, network access to the package index (or a pip cache) and a few minutes. Prints the
# wheel size, the installed size and the time of each step.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
TRAIN=0
WORKTREE=0
for arg in "$@"; do
  case "$arg" in
    --train) TRAIN=1 ;;
    --worktree) WORKTREE=1 ;;
    *) echo "usage: $0 [--train] [--worktree]" >&2; exit 2 ;;
  esac
done
WORK="$(mktemp -d "${TMPDIR:-/tmp}/labctl-wheel.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
step() { printf '%-44s %6.1f s\n' "$1" "$(( $(date +%s%N) - T0 ))e-9"; }

T0=$(date +%s%N)
if [[ $WORKTREE == 1 ]]; then
  mkdir "$WORK/src"
  (cd "$REPO" && git ls-files -co --exclude-standard -z | xargs -0 tar -c --ignore-failed-read 2>/dev/null) | tar -x -C "$WORK/src"
else
  git -C "$REPO" archive --format=tar --prefix=src/ HEAD | tar -x -C "$WORK"
fi
"$PYTHON" -m venv "$WORK/build-env"
"$WORK/build-env/bin/pip" wheel --quiet --no-deps -w "$WORK/dist" "$WORK/src" 2> "$WORK/pip.err" \
  || { cat "$WORK/pip.err"; exit 1; }
WHEEL="$(ls "$WORK"/dist/labctl-*.whl)"
step "export HEAD + build wheel"
echo "wheel: $(basename "$WHEEL") $(du -k "$WHEEL" | cut -f1) KiB"

T0=$(date +%s%N)
"$PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet "$WHEEL" 2> "$WORK/pip.err" || { cat "$WORK/pip.err"; exit 1; }
step "fresh venv + pip install wheel (no extras)"
SITE="$("$WORK/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
echo "installed (site-packages): $(du -sm "$SITE" | cut -f1) MiB; largest:" \
  "$(du -sm "$SITE"/* | sort -rn | head -n 6 | awk '{printf "%s %s MiB, ", $2, $1}' | sed "s|$SITE/||g")"

RUN="$WORK/elsewhere"
mkdir -p "$RUN"
cd "$RUN"
T0=$(date +%s%N)
"$WORK/venv/bin/labctl" sweep --sim --seed 1 --dies die_03_00 --out w.h5 > sweep.txt
"$WORK/venv/bin/labctl" inspect w.h5 > /dev/null
"$WORK/venv/bin/labctl" report w.h5 --out report > /dev/null
step "labctl sweep + inspect + report (base)"
"$WORK/venv/bin/python" - <<'PY'
import sys
from labctl import api
api.sweep(api.simulator(seed=1), "api.h5", dies=["die_04_00"])
print(api.open_wafer("api.h5").dies()[["status", "yield_pct"]].to_string())
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "PyQt6", "pyqtgraph", "safetensors"})
assert not heavy, f"imported without need: {heavy}"
import labctl_data, labctl.core.resources as r
assert str(r.data_root()).startswith(sys.prefix), r.data_root()
print("no torch, PyQt6, pyqtgraph or safetensors imported; data from", r.data_root())
PY
set +e
"$WORK/venv/bin/labctl" train --mode ideal --quick --wafer w.h5 --out t > /dev/null 2> train.err
status=$?
set -e
echo "labctl train without the extra: exit $status: $(cat train.err)"
[[ $status == 2 && $(wc -l < train.err) == 1 ]]

if [[ $TRAIN == 1 ]]; then
  T0=$(date +%s%N)
  "$WORK/venv/bin/pip" install --quiet -c "$REPO/constraints.txt" "labctl[train] @ file://$WHEEL" \
    2> "$WORK/pip.err" || { cat "$WORK/pip.err"; exit 1; }
  step "pip install labctl[train]"
  echo "installed (site-packages): $(du -sm "$SITE" | cut -f1) MiB; largest:" \
  "$(du -sm "$SITE"/* | sort -rn | head -n 6 | awk '{printf "%s %s MiB, ", $2, $1}' | sed "s|$SITE/||g")"
  T0=$(date +%s%N)
  "$WORK/venv/bin/labctl" reproduce --sim --quick --out repro > reproduce.txt 2> reproduce.err
  step "labctl reproduce --sim --quick"
  tail -n 5 reproduce.txt
fi
echo "check_wheel: OK"
