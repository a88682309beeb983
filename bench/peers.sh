#!/usr/bin/env bash
# bench/peers.sh: riverlite beside its peers, in one command.
#
# Builds (release, one at a time) riverlite's CLI, the SQLite floor bench
# (benches/floor.rs), bench/effectum-peer and interop/riverqueue-driver, then
# runs ROUNDS rounds; each round runs every system once, interleaved, in an
# order that rotates from round to round:
#   riverlite   riverlite bench --jobs N --json (1,000 workers), and --workers 8
#   floor       floor --jobs N --json (bare SQL on River's schema)
#   effectum    insert_many N, single_insert SINGLE_JOBS, burn_down N at 8
#   riverqueue  insert_many N, single_insert SINGLE_JOBS, burn_down N at 1,000 and at 8
# Every run's JSON goes to a results file; the end is one table of medians
# and the ratios the performance issue asks for.
#
# Environment: JOBS (100000), SINGLE_JOBS (20000), ROUNDS (3), RESULTS (file).
# riverlite's bench picks its own single-insert count, min(5,000, JOBS/10);
# it has no option for it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JOBS=${JOBS:-100000}
SINGLE_JOBS=${SINGLE_JOBS:-20000}
ROUNDS=${ROUNDS:-3}
OUT_DIR=$ROOT/target/peers
mkdir -p "$OUT_DIR"
RESULTS=${RESULTS:-$OUT_DIR/results-$(date +%Y%m%d-%H%M%S).jsonl}
LOG=$OUT_DIR/peers.log
: >"$RESULTS"
: >"$LOG"
# riverlite bench must use a fresh file in a temp dir, not a configured one.
unset RIVERLITE_DATABASE

say() { printf '%s\n' "$*" >&2; }

# --- builds ------------------------------------------------------------------
say "== building (release); compiler output in $LOG"
(cd "$ROOT" && cargo build --release --bin riverlite) >>"$LOG" 2>&1
RIVERLITE=$ROOT/target/release/riverlite

FLOOR=""
if [[ -f $ROOT/benches/floor.rs ]]; then
    if floor_json=$(cd "$ROOT" && cargo bench --bench floor --no-run --message-format=json-render-diagnostics 2>>"$LOG"); then
        FLOOR=$(python3 -c '
import json, sys
for line in sys.stdin:
    msg = json.loads(line)
    if msg.get("reason") == "compiler-artifact" and msg.get("executable") and msg["target"]["name"] == "floor":
        print(msg["executable"])' <<<"$floor_json")
    fi
    [[ -n $FLOOR ]] || say "note: benches/floor.rs did not build (see $LOG); skipping the floor"
else
    say "note: benches/floor.rs does not exist yet; skipping the floor"
fi

(cd "$ROOT/bench/effectum-peer" && cargo build --release --locked) >>"$LOG" 2>&1
EFFECTUM=$ROOT/bench/effectum-peer/target/release/effectum-peer
(cd "$ROOT/interop/riverqueue-driver" && cargo build --release --locked) >>"$LOG" 2>&1
RIVERQUEUE=$ROOT/interop/riverqueue-driver/target/release/riverqueue-driver

# --- runs --------------------------------------------------------------------
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/peers.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT

# record ROUND NAME CMD...: runs CMD, keeps its last stdout line (JSON) as
# {"round":R,"name":NAME,"output":{...}} in $RESULTS.
record() {
    local round=$1 name=$2
    shift 2
    say "   round $round: $name"
    local line
    if ! line=$("$@" 2>>"$LOG" | tail -n 1); then
        say "FAILED: $*"
        tail -n 20 "$LOG" >&2
        exit 1
    fi
    python3 -c 'import json, sys; json.loads(sys.argv[1])' "$line" 2>/dev/null || {
        say "FAILED: $* printed no JSON: $line"
        exit 1
    }
    printf '{"round":%d,"name":"%s","output":%s}\n' "$round" "$name" "$line" >>"$RESULTS"
}

run_riverlite() {
    record "$1" riverlite "$RIVERLITE" bench --jobs "$JOBS" --json
    record "$1" riverlite_w8 "$RIVERLITE" bench --jobs "$JOBS" --workers 8 --json
}
run_floor() {
    [[ -n $FLOOR ]] && record "$1" floor "$FLOOR" --jobs "$JOBS" --json
    return 0
}
run_effectum() {
    record "$1" effectum_insert_many "$EFFECTUM" --workload insert_many --jobs "$JOBS"
    record "$1" effectum_single_insert "$EFFECTUM" --workload single_insert --jobs "$SINGLE_JOBS"
    record "$1" effectum_burn_down_8 "$EFFECTUM" --workload burn_down --jobs "$JOBS" --concurrency 8
}
run_riverqueue() {
    local db=$SCRATCH/riverqueue-$1
    record "$1" riverqueue_insert_many "$RIVERQUEUE" bench --database "$db-im.db" --workload insert_many --jobs "$JOBS"
    record "$1" riverqueue_single_insert "$RIVERQUEUE" bench --database "$db-si.db" --workload single_insert --jobs "$SINGLE_JOBS"
    record "$1" riverqueue_burn_down_1000 "$RIVERQUEUE" bench --database "$db-b1000.db" --workload burn_down --jobs "$JOBS" --workers 1000
    record "$1" riverqueue_burn_down_8 "$RIVERQUEUE" bench --database "$db-b8.db" --workload burn_down --jobs "$JOBS" --workers 8
    rm -f "$db"-*
}

SYSTEMS=(riverlite floor effectum riverqueue)
say "== $ROUNDS rounds, JOBS=$JOBS, SINGLE_JOBS=$SINGLE_JOBS"
for ((round = 1; round <= ROUNDS; round++)); do
    for ((i = 0; i < ${#SYSTEMS[@]}; i++)); do
        "run_${SYSTEMS[(i + round - 1) % ${#SYSTEMS[@]}]}" "$round"
    done
done

# --- table -------------------------------------------------------------------
python3 - "$RESULTS" "$JOBS" "$SINGLE_JOBS" <<'PY'
import json, statistics, sys
from collections import defaultdict

results, jobs, single_jobs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
samples = defaultdict(list)  # (figure, system) -> values


def add(figure, system, value):
    if value is not None:
        samples[(figure, system)].append(float(value))


for line in open(results):
    run = json.loads(line)
    name, out = run["name"], run["output"]
    if name == "riverlite":
        add("insert_many", "riverlite", out["insert_batch_jobs_per_sec"])
        add("single_insert", "riverlite", out["insert_single_jobs_per_sec"])
        add("burn_down_1000", "riverlite", out["work_jobs_per_sec"])
        add("latency_p50_ms", "riverlite", out["latency_p50_ms"])
        add("latency_p99_ms", "riverlite", out["latency_p99_ms"])
        riverlite_single = out["insert_single_jobs"]
    elif name == "riverlite_w8":
        add("burn_down_8", "riverlite", out["work_jobs_per_sec"])
    elif name == "floor":
        add("insert_many", "floor", out.get("floor_insert_jobs_per_sec"))
        add("burn_down_1000", "floor", out.get("floor_work_1000_jobs_per_sec"))
        add("burn_down_8", "floor", out.get("floor_work_8_jobs_per_sec"))
    else:
        system = out["peer"]
        workload = out["workload"]
        if workload == "burn_down":
            workload = f"burn_down_{out['concurrency']}"
        add(workload, system, out["jobs_per_sec"])


def median(figure, system):
    values = samples.get((figure, system))
    return statistics.median(values) if values else None


systems = ["riverlite", "floor", "effectum", "riverqueue"]
figures = [
    ("insert_many", "insert_many, jobs/s"),
    ("single_insert", "single insert, jobs/s"),
    ("burn_down_1000", "burn-down 1,000 workers, jobs/s"),
    ("burn_down_8", "burn-down 8 workers, jobs/s"),
    ("latency_p50_ms", "latency p50, ms"),
    ("latency_p99_ms", "latency p99, ms"),
]


def cell(value, figure):
    if value is None:
        return "-"
    return f"{value:.3f}" if figure.startswith("latency") else f"{value:,.0f}"


rounds = max((len(v) for v in samples.values()), default=0)
print(f"\nMedians of {rounds} rounds (JOBS={jobs:,}, peers' SINGLE_JOBS={single_jobs:,}, "
      f"riverlite's single inserts={riverlite_single:,})")
width = max(len(label) for _, label in figures)
print(f"{'':<{width}}  " + "".join(f"{s:>12}" for s in systems))
for figure, label in figures:
    print(f"{label:<{width}}  " + "".join(f"{cell(median(figure, s), figure):>12}" for s in systems))

ratios = [
    ("burn-down 1,000: riverlite / floor_work_1000", "burn_down_1000", "floor", 0.9),
    ("burn-down 1,000: riverlite / riverqueue", "burn_down_1000", "riverqueue", 10),
    ("burn-down 8: riverlite / effectum", "burn_down_8", "effectum", 2),
    ("burn-down 8: riverlite / riverqueue", "burn_down_8", "riverqueue", 10),
    ("insert_many: riverlite / floor_insert", "insert_many", "floor", 0.9),
    ("insert_many: riverlite / effectum", "insert_many", "effectum", 1.1),
    ("insert_many: riverlite / riverqueue", "insert_many", "riverqueue", 10),
    ("single insert: riverlite / effectum", "single_insert", "effectum", 3),
    ("single insert: riverlite / riverqueue", "single_insert", "riverqueue", 10),
]
width = max(len(label) for label, *_ in ratios)
print(f"\n{'ratio':<{width}}  {'value':>8}  {'target':>8}")
for label, figure, peer, target in ratios:
    ours, theirs = median(figure, "riverlite"), median(figure, peer)
    if ours is None or theirs is None:
        print(f"{label:<{width}}  {'-':>8}  {'>= ' + str(target):>8}  (no figure)")
        continue
    ratio = ours / theirs
    print(f"{label:<{width}}  {ratio:>8.2f}  {'>= ' + str(target):>8}  {'ok' if ratio >= target else 'MISSED'}")
for figure, label, target in [("latency_p50_ms", "latency p50", 1), ("latency_p99_ms", "latency p99", 5)]:
    value = median(figure, "riverlite")
    verdict = "-" if value is None else ("ok" if value < target else "MISSED")
    print(f"{label + ' (riverlite, ms)':<{width}}  {cell(value, figure):>8}  {'< ' + str(target):>8}  {verdict}")
PY
say ""
say "raw results: $RESULTS"
