#!/usr/bin/env bash
# The built-in yolo end to end on tract and on onnxruntime, alternated (two passes): 1 session at 5 and 30 FPS,
# 4 sessions at 15 FPS, 15 s each. Needs `cargo build --release --workspace --locked` and `just onnxruntime`.
# Usage: bench/engines.sh [OUT_DIR]   (reports in OUT_DIR, default target/bench-engines; a summary is printed)
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${1:-target/bench-engines}; mkdir -p "$out"
for pass in 1 2; do
  for engine in tract onnxruntime; do
    target/release/stream-server --bind 127.0.0.1:18600 --engine $engine --job-workers 0 --log-level warn --data-dir "$out/data" > $out/server-$engine-$pass.log 2>&1 &
    pid=$!
    for i in $(seq 100); do curl -s http://127.0.0.1:18600/v1/health >/dev/null && break; sleep 0.2; done
    for sc in "1 5" "1 30" "4 15"; do
      set -- $sc
      target/release/stream-bench --url ws://127.0.0.1:18600 --pipeline yolo --sessions $1 --fps $2 --warmup 3s --duration 15s --frames fixtures/images --json $out/$engine-$1x$2-p$pass.json > $out/$engine-$1x$2-p$pass.txt 2>&1
    done
    kill $pid; wait $pid 2>/dev/null
  done
done
rm -rf "$out/data"
for f in $out/*.json; do python3 -c "
import json,sys; d=json.load(open('$f')); t=d['total']
print('$f'.split('/')[-1], 'p50', t['result_rtt_ms']['p50'], 'res/s', round(t['results_per_s'],2), 'pipeline p50', t.get('pipeline_ms',{}).get('p50'))
" 2>/dev/null || echo "$f unreadable"; done
