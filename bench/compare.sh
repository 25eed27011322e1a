#!/usr/bin/env bash
# bench/compare.sh: our Rust server against the Python reference (bench/reference/), side by side, measured by
# the project's load generator target/release/stream-bench.
#
# Usage (from anywhere; paths are taken from the repository root):
#
#   cargo build --release --workspace --locked          # stream-server and stream-bench (or: just bench-compare)
#   bench/compare.sh [OPTIONS] [-- STREAM-SERVER-ARGS...]
#
#   bench/compare.sh                                    # defaults below: about 7 minutes
#   bench/compare.sh --duration 10s --rounds 1          # a quick look
#   bench/compare.sh -- --engine onnxruntime --onnxruntime-library target/onnxruntime/libonnxruntime.so.1.31.1
#   bench/compare.sh --ours-url ws://127.0.0.1:8080     # our server is already running there
#
# What it does:
#   1. bench/reference/setup.sh (the venv in target/bench-venv; instant when already done).
#   2. Starts OUR server: target/release/stream-server --bind 127.0.0.1:OURS_PORT --log-level warn
#      --job-workers 0 STREAM-SERVER-ARGS... (--log-level/--job-workers are added only when not passed), unless
#      --ours-url names a running one. Reads its /v1/pipelines/yolo/info to pick the reference's model and input
#      size (a name containing "Plus" means NanoDet-Plus-m); --model/--input-size override.
#   3. Starts one Python reference server per configuration (--python-configs, WORKERS:INTRA_THREADS, "default"
#      leaving onnxruntime's own thread count), on ports REF_PORT, REF_PORT+1, ... They stay up, idle, while
#      another server is measured.
#   4. For each scenario (SESSIONS@FPS; default 1 session at 5 FPS, 4 sessions at 15 FPS), ROUNDS times:
#      ours, then every Python configuration (A B A B ...), each one stream-bench run with --warmup and
#      --duration, its JSON report kept in the output folder.
#   5. Prints a table per scenario: for each server, the median over rounds of the round trip p50 (send of a
#      frame to the arrival of its result, stream-bench's total.result_rtt_ms.p50) and of results/s
#      (total.results_per_s), plus drop rate, pipeline and overhead p50 for context. The BEST Python
#      configuration per scenario is the one with the most results/s, ties (within 5%) going to the lowest
#      p50; the ratios are ours/python-best for p50 (below 1: ours answers faster) and for results/s (above 1:
#      ours delivers more). Also written to OUT/summary.txt and OUT/summary.json.
#
# Options (defaults in brackets):
#   --ours-url URL          our server is already running at ws://HOST:PORT (no STREAM-SERVER-ARGS then)
#   --ours-port N           port for the server this script starts [18080]
#   --ref-port N            first port of the Python reference servers [18090]
#   --rounds R              A/B rounds per scenario [2]
#   --duration D            measured time per run, stream-bench syntax [20s]
#   --warmup D              warm-up per run, not counted [3s]
#   --scenarios LIST        space-separated SESSIONS@FPS ["1@5 4@15"]
#   --python-configs LIST   space-separated WORKERS:INTRA_THREADS ["1:default 1:1 2:1"]
#   --model M               auto | nanodet-g | nanodet-plus-m [auto]
#   --input-size N          the reference's model input [auto: our pipeline's, else 416]
#   --frames DIR            JPEG frames to stream [fixtures/images]
#   --out DIR               reports and logs [target/bench-compare/DATE-TIME]
#   --bench BIN / --server BIN   the binaries [target/release/stream-bench, target/release/stream-server]
#
# Needs curl. Exit status: 0 when every run completed without errors, 1 otherwise (the table is printed anyway),
# 2 for bad usage or a server that did not start.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

ours_url="" ours_port=18080 ref_port=18090 rounds=2 duration=20s warmup=3s
scenarios="1@5 4@15" python_configs="1:default 1:1 2:1" model=auto input_size=auto frames=fixtures/images
out="target/bench-compare/$(date +%Y%m%d-%H%M%S)" bench=target/release/stream-bench server=target/release/stream-server
server_args=()

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [[ $# -gt 0 ]]; do
    case $1 in
        --ours-url) ours_url=$2; shift 2 ;;
        --ours-port) ours_port=$2; shift 2 ;;
        --ref-port) ref_port=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --scenarios) scenarios=$2; shift 2 ;;
        --python-configs) python_configs=$2; shift 2 ;;
        --model) model=$2; shift 2 ;;
        --input-size) input_size=$2; shift 2 ;;
        --frames) frames=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --bench) bench=$2; shift 2 ;;
        --server) server=$2; shift 2 ;;
        --) shift; server_args=("$@"); break ;;
        -h|--help) usage ;;
        *) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: --rounds must be a positive integer" >&2; exit 2; }
[[ -x $bench ]] || { echo "compare.sh: $bench not found: cargo build --release --workspace --locked" >&2; exit 2; }
if [[ -n $ours_url && ${#server_args[@]} -gt 0 ]]; then
    echo "compare.sh: STREAM-SERVER-ARGS are for the server this script starts, not with --ours-url" >&2; exit 2
fi
command -v curl > /dev/null || { echo "compare.sh: needs curl" >&2; exit 2; }
for config in $python_configs; do
    [[ $config =~ ^[1-9][0-9]*:(default|[1-9][0-9]*)$ ]] \
        || { echo "compare.sh: bad --python-configs entry $config (WORKERS:INTRA_THREADS)" >&2; exit 2; }
done
for scenario in $scenarios; do
    [[ $scenario =~ ^[1-9][0-9]*@[0-9.]+$ ]] || { echo "compare.sh: bad --scenarios entry $scenario (SESSIONS@FPS)" >&2; exit 2; }
done
[[ $model =~ ^(auto|nanodet-g|nanodet-plus-m)$ ]] || { echo "compare.sh: bad --model $model" >&2; exit 2; }

bench/reference/setup.sh
python=target/bench-venv/bin/python
mkdir -p "$out"

pids=()
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2> /dev/null || true
    done
}
trap cleanup EXIT

# ensure_free PORT: refuses to start a server on a port something already listens on (it would measure that).
ensure_free() {
    if (: > "/dev/tcp/127.0.0.1/$1") 2> /dev/null; then
        echo "compare.sh: port $1 is in use; pick others with --ours-port/--ref-port" >&2
        exit 2
    fi
}

# wait_healthy NAME PID HTTP-URL LOG: polls /v1/health for up to 90 s while the process lives.
wait_healthy() {
    for _ in $(seq 180); do
        if curl -sf -o /dev/null "$3/v1/health"; then return 0; fi
        if [[ -n $2 ]] && ! kill -0 "$2" 2> /dev/null; then break; fi
        sleep 0.5
    done
    echo "compare.sh: $1 did not become healthy at $3; last lines of $4:" >&2
    tail -n 20 "$4" >&2 || true
    exit 2
}

# --- our server ---------------------------------------------------------------------------------------------
if [[ -z $ours_url ]]; then
    [[ -x $server ]] || { echo "compare.sh: $server not found: cargo build --release --workspace --locked" >&2; exit 2; }
    extra=()
    [[ " ${server_args[*]-} " == *" --log-level"* ]] || extra+=(--log-level warn)
    [[ " ${server_args[*]-} " == *" --job-workers"* ]] || extra+=(--job-workers 0)
    ensure_free "$ours_port"
    echo "starting ours: $server --bind 127.0.0.1:$ours_port ${extra[*]} ${server_args[*]-}"
    "$server" --bind "127.0.0.1:$ours_port" "${extra[@]}" "${server_args[@]}" > "$out/ours.log" 2>&1 &
    pids+=($!)
    ours_url="ws://127.0.0.1:$ours_port"
    wait_healthy "our server" "$!" "http://127.0.0.1:$ours_port" "$out/ours.log"
else
    wait_healthy "our server" "" "${ours_url/#ws:/http:}" /dev/null
fi
ours_http=${ours_url/#ws:/http:}

info=$(curl -sf "$ours_http/v1/pipelines/yolo/info" || true)
read -r auto_model auto_size < <("$python" -c '
import json, sys
try:
    info = json.loads(sys.argv[1])
except ValueError:
    info = {}
model = "nanodet-plus-m" if "plus" in info.get("name", "").lower() else "nanodet-g"
print(model, info.get("input_size") or 416)' "$info")
if [[ -n $info ]]; then
    echo "our yolo pipeline: $(printf '%s' "$info" | head -c 160)..."
elif [[ $model == auto || $input_size == auto ]]; then
    echo "compare.sh: no /v1/pipelines/yolo/info from our server; assuming NanoDet-g at 416" >&2
fi
[[ $model == auto ]] && model=$auto_model
[[ $input_size == auto ]] && input_size=$auto_size
echo "reference model: $model at $input_size"

# --- Python reference servers -------------------------------------------------------------------------------
labels=(ours) urls=("$ours_url")
port=$ref_port
for config in $python_configs; do
    workers=${config%%:*} threads=${config#*:}
    label="py-w${workers}-t${threads}"
    args=(--port "$port" --workers "$workers" --model "$model" --input-size "$input_size")
    [[ $threads == default ]] || args+=(--intra-threads "$threads")
    ensure_free "$port"
    echo "starting $label: bench/reference/server.py ${args[*]}"
    "$python" bench/reference/server.py "${args[@]}" > "$out/$label.log" 2>&1 &
    pids+=($!)
    wait_healthy "$label" "$!" "http://127.0.0.1:$port" "$out/$label.log"
    labels+=("$label") urls+=("ws://127.0.0.1:$port")
    port=$((port + 1))
done

# --- runs: per scenario, ROUNDS x (ours, python configs...) -------------------------------------------------
status=0
for scenario in $scenarios; do
    sessions=${scenario%@*} fps=${scenario#*@}
    for round in $(seq "$rounds"); do
        for i in "${!labels[@]}"; do
            name="s${sessions}x${fps}-r${round}-${labels[$i]}"
            printf '%-34s ' "$name"
            rm -f "$out/$name.json"
            if "$bench" --url "${urls[$i]}" --pipeline yolo --sessions "$sessions" --fps "$fps" \
                --warmup "$warmup" --duration "$duration" --frames "$frames" --json "$out/$name.json" \
                > "$out/$name.txt" 2>&1; then
                code=0
            else
                code=$?
                status=1
            fi
            "$python" -c '
import json, sys
try:
    t = json.load(open(sys.argv[1]))["total"]
except (OSError, ValueError, KeyError):
    print("no report (exit %s)" % sys.argv[2]); sys.exit()
rtt = t.get("result_rtt_ms") or {}
print("p50 %s ms, %.2f results/s, drop %.1f%%%s" % (
    "%.1f" % rtt["p50"] if rtt else "-", t["results_per_s"], 100 * t["drop_rate"],
    "" if sys.argv[2] == "0" else ", EXIT %s: %s" % (sys.argv[2], t.get("first_error") or "see .txt")))' \
                "$out/$name.json" "$code"
            sleep 1
        done
    done
done

# --- summary ------------------------------------------------------------------------------------------------
"$python" - "$out" "$scenarios" "${labels[*]}" "$model" "$input_size" "$duration" "$rounds" << 'EOF' | tee "$out/summary.txt"
import json, statistics, sys
from pathlib import Path

out, scenarios, labels, model, size, duration, rounds = sys.argv[1:]
labels = labels.split()
summary = {"model": model, "input_size": int(size), "duration": duration, "rounds": int(rounds), "scenarios": {}}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, spec):
    width = int(spec.split(".")[0] or 0)
    return "-".rjust(width) if value is None else format(value, spec)


print(f"\nours vs Python reference ({model} at {size}), median over {rounds} round(s) of {duration} each\n")
for scenario in scenarios.split():
    sessions, fps = scenario.split("@")
    rows = {}
    for label in labels:
        reports = []
        for path in sorted(Path(out).glob(f"s{sessions}x{fps}-r*-{label}.json")):
            try:
                reports.append(json.loads(path.read_text())["total"])
            except (ValueError, KeyError):
                pass
        rtt = [(t.get("result_rtt_ms") or {}).get("p50") for t in reports]
        rows[label] = {
            "runs": len(reports),
            "errors": sum(sum(t.get("errors", {}).values()) + sum(t.get("anomalies", {}).values()) for t in reports),
            "p50_ms": median(rtt),
            "p90_ms": median([(t.get("result_rtt_ms") or {}).get("p90") for t in reports]),
            "results_per_s": median([t.get("results_per_s") for t in reports]),
            "drop_rate": median([t.get("drop_rate") for t in reports]),
            "pipeline_p50_ms": median([(t.get("pipeline_ms") or {}).get("p50") for t in reports]),
            "overhead_p50_ms": median([(t.get("server_overhead_ms") or {}).get("p50") for t in reports]),
        }
    python = {k: v for k, v in rows.items() if k != "ours" and v["results_per_s"] is not None}
    best = None
    if python:
        top = max(v["results_per_s"] for v in python.values())
        tied = [k for k, v in python.items() if v["results_per_s"] >= 0.95 * top]
        best = min(tied, key=lambda k: python[k]["p50_ms"] if python[k]["p50_ms"] is not None else float("inf"))
    ours = rows.get("ours", {})
    ratio = lambda a, b: a / b if a is not None and b else None
    ratios = {
        "p50_ours_over_python": ratio(ours.get("p50_ms"), rows[best]["p50_ms"]) if best else None,
        "results_per_s_ours_over_python": ratio(ours.get("results_per_s"), rows[best]["results_per_s"]) if best else None,
    }
    summary["scenarios"][scenario] = {"sessions": int(sessions), "fps": float(fps), "servers": rows,
                                      "best_python": best, **ratios}

    print(f"== {sessions} session(s) x {fps} FPS")
    print(f"  {'server':<16} {'runs':>4} {'p50 ms':>8} {'p90 ms':>8} {'results/s':>9} {'drop %':>7} "
          f"{'pipeline':>8} {'overhead':>8} {'errors':>6}")
    for label, r in rows.items():
        mark = "  <- best python" if label == best else ""
        print(f"  {label:<16} {r['runs']:>4} {fmt(r['p50_ms'], '8.1f')} {fmt(r['p90_ms'], '8.1f')} "
              f"{fmt(r['results_per_s'], '9.2f')} {fmt(r['drop_rate'] and 100 * r['drop_rate'], '7.1f')} "
              f"{fmt(r['pipeline_p50_ms'], '8.1f')} {fmt(r['overhead_p50_ms'], '8.2f')} {r['errors']:>6}{mark}")
    print(f"  ours / {best or 'python'}: p50 {fmt(ratios['p50_ours_over_python'], '.2f')}x (below 1: ours faster), "
          f"results/s {fmt(ratios['results_per_s_ours_over_python'], '.2f')}x (above 1: ours more)\n")

Path(out, "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
print(f"reports, logs and summary.json in {out}")
EOF
exit $status
