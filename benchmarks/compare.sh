#!/usr/bin/env bash
# The tracked harness: advrl at REV vs the working tree, one table of pytest-benchmark numbers.
#
#   benchmarks/compare.sh [REV] [-- PYTEST OPTIONS]       (REV default: HEAD~1)
#
# REV is checked out in a throwaway `git worktree`. Both checkouts run the *working tree's*
# harness (benchmarks/harness/) with the same interpreter and packages, so only advrl's code
# differs. advrl's folders are mapped into the package by pyproject's package-dir (advrl.envs
# -> envs/, ...), and the venv's editable install points at this checkout, so each run gets a
# generated shim on PYTHONPATH: a folder `advrl/` of symlinks laid out as that checkout's
# package-dir says. Nothing else may come first on sys.path: the interpreter runs with -P (no
# current folder) and pytest with --import-mode=importlib (no conftest folders, such as the
# repository root's), and the harness's conftest fails the run if any advrl module came from
# elsewhere (ADVRL_CHECKOUT).
#
# The runs alternate (REV, working tree, REV, working tree: PAIRS=2 by default) so machine
# noise hits both alike; timings are this process's CPU time (time.process_time). Per side,
# each benchmark's min is the fastest over its runs and its median the median of the runs'
# medians; `pytest-benchmark compare --between` prints both with the change from REV.
# Options after `--` go to pytest (e.g. `-- -k certificate`).
#
# Environment: PYTHON (default .venv/bin/python), PAIRS (2), OUT (runs/compare: the merged
# JSON of each side, and each run's JSON and log under OUT/runs).
set -euo pipefail

ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
REV=${1:-HEAD~1}
[[ $# -gt 0 ]] && shift
[[ ${1:-} == "--" ]] && shift
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
PAIRS=${PAIRS:-2}
OUT=${OUT:-$ROOT/runs/compare}

if ! git -C "$ROOT" rev-parse --verify --quiet "$REV^{commit}" >/dev/null; then
    echo "compare.sh: unknown revision '$REV' (give a commit, branch or tag, e.g. HEAD~1)" >&2
    exit 2
fi
if ! [[ $PAIRS =~ ^[1-9][0-9]*$ ]]; then
    echo "compare.sh: PAIRS must be an integer >= 1, got '$PAIRS'" >&2
    exit 2
fi
"$PYTHON" -c "import pytest_benchmark" 2>/dev/null || {
    echo "compare.sh: $PYTHON has no pytest-benchmark: pip install -e '.[bench]'" >&2
    exit 2
}

TMP=$(mktemp -d)
WORKTREE=$TMP/rev
cleanup() {
    git -C "$ROOT" worktree remove --force "$WORKTREE" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
git -C "$ROOT" worktree add --quiet --detach "$WORKTREE" "$REV"
SHORT=$(git -C "$ROOT" rev-parse --short "$REV")

# shim CHECKOUT DIR: DIR/advrl/... laid out as CHECKOUT's pyproject package-dir says.
shim() {
    "$PYTHON" - "$1" "$2" <<'PY'
import sys, tomllib
from pathlib import Path

checkout, shim = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
config = tomllib.loads((checkout / "pyproject.toml").read_text())
dirs = config.get("tool", {}).get("setuptools", {}).get("package-dir", {"advrl": "advrl"})
mapped = {pkg: checkout / folder for pkg, folder in dirs.items() if pkg.startswith("advrl")}
root = shim / "advrl"
root.mkdir(parents=True)
for child in mapped.pop("advrl").iterdir():  # the core package's own files and subpackages
    if f"advrl.{child.name}" not in mapped and child.name != "__pycache__":
        (root / child.name).symlink_to(child)
for pkg, folder in sorted(mapped.items()):  # advrl.envs -> envs/, ...
    link = shim.joinpath(*pkg.split("."))
    if link.parent.is_symlink():
        sys.exit(f"compare.sh: cannot map {pkg} inside the symlinked {link.parent}")
    link.symlink_to(folder)
PY
}

# run LABEL CHECKOUT [OPTIONS]: the harness on CHECKOUT's advrl; JSON and log in $OUT/runs.
run() {
    local label=$1 checkout=$2 shimdir=$TMP/shim-$1
    shift 2
    shim "$checkout" "$shimdir"
    printf '%s (advrl from %s): ' "$label" "$checkout" >&2
    if (cd "$checkout" && ADVRL_CHECKOUT=$checkout PYTHONPATH=$shimdir OMP_NUM_THREADS=1 \
        "$PYTHON" -P -m pytest "$ROOT/benchmarks/harness" -q -p no:cacheprovider \
        --import-mode=importlib --benchmark-only --benchmark-timer=time.process_time \
        --benchmark-warmup=on --benchmark-max-time=0.3 --benchmark-json="$OUT/runs/$label.json" \
        "$@" >"$OUT/runs/$label.log" 2>&1); then
        tail -n 1 "$OUT/runs/$label.log" >&2
    else
        echo "the harness failed; the end of $OUT/runs/$label.log:" >&2
        tail -n 30 "$OUT/runs/$label.log" >&2
        return 1
    fi
}

# merge OUT_FILE RUN_FILE...: per benchmark, the fastest min over the runs and the median of
# their medians (noise on a shared machine only ever adds time).
merge() {
    "$PYTHON" - "$@" <<'PY'
import json, statistics, sys

out, files = sys.argv[1], sys.argv[2:]
runs = [json.load(open(f)) for f in files]
merged = runs[0]
for bench in merged["benchmarks"]:
    same = [b["stats"] for r in runs for b in r["benchmarks"] if b["fullname"] == bench["fullname"]]
    bench["stats"]["min"] = min(s["min"] for s in same)
    bench["stats"]["median"] = statistics.median(s["median"] for s in same)
json.dump(merged, open(out, "w"))
PY
}

mkdir -p "$OUT"
rm -rf "$OUT/runs"
mkdir "$OUT/runs"
for ((i = 1; i <= PAIRS; i++)); do
    run "$SHORT-$i" "$WORKTREE" "$@"
    run "working-$i" "$ROOT" "$@"
done
merge "$OUT/$SHORT.json" "$OUT/runs/$SHORT"-*.json
merge "$OUT/working.json" "$OUT"/runs/working-*.json
echo
echo "advrl $REV ($SHORT) vs the working tree: CPU time per call, min = fastest of $PAIRS"
echo "alternating run(s) of each, median = median of their medians; change relative to $SHORT"
cd "$OUT"
"$PYTHON" -c "import sys; from pytest_benchmark.cli import main; sys.exit(main())" compare \
    --between=min,median --group-by=group --sort=name "$SHORT.json" working.json
