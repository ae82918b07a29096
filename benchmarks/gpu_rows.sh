#!/bin/bash
# Several ablation runs at once on one GPU machine: each run is `benchmarks/ablation.py ROW --seeds SEED` with
# its own augmentation workers (the trainer is bound by the numpy augmentation, not the GPU), all started
# together, each stopped after LIMIT seconds. Run folders land under OUT as ablation.py names them.
#
#   STEPS=5000 CHANNELS=256 SPLIT=val OUT=runs/gpu/c256x5000 bash benchmarks/gpu_rows.sh \
#       configs/default.yaml:0 configs/default.yaml:1 configs/extra/baseline_virtual_views.yaml:0 ...
#
# On the 16-core H200 machine 4 runs with 4 workers each took ~4.5 minutes for 5,000 steps of 64 x 128
# frames at width 256 (18-20 steps/s each; docs/results.md, "A GPU budget").
set -u
STEPS=${STEPS:-4000}; CHANNELS=${CHANNELS:-128}; SPLIT=${SPLIT:-test}; OUT=${OUT:-runs/gpu}
LIMIT=${LIMIT:-540}; DEVICE=${DEVICE:-cuda}
CORES=$(nproc)
WORKERS=${WORKERS:-$(( CORES / $# > 1 ? CORES / $# : 1 ))}
export PYTHONPATH=${PYTHONPATH:-}:$PWD/src OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1
mkdir -p "$OUT/logs"
for spec in "$@"; do
  row=${spec%:*}; seed=${spec##*:}
  log="$OUT/logs/$(basename "$row" .yaml)-$SPLIT-s$seed.log"
  timeout "$LIMIT" python3 benchmarks/ablation.py "$row" --split "$SPLIT" --seeds "$seed" --steps "$STEPS" \
    --channels "$CHANNELS" --threads 1 --workers "$WORKERS" --device "$DEVICE" --out "$OUT" >"$log" 2>&1 &
done
wait
for f in "$OUT"/logs/*.log; do echo "== $f"; tail -c 400 "$f" | tr '\r' '\n' | tail -2; done
