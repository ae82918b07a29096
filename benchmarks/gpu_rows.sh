#!/bin/bash
# Several ablation runs at once on one GPU machine: each run is `benchmarks/ablation.py ROW --seeds SEED` with
# its own augmentation workers (the trainer is bound by the numpy augmentation, not the GPU), all started
# together, each stopped after LIMIT seconds (by SIGINT, so an unfinished run saves its last.pt and
# `benchmarks/ablation.py ROW --resume ...` finishes it with the same batches); the script returns when all are
# done. A run is ROW:SEED, or ROW:SEED:SPLIT to mix validation and test runs in one call (SPLIT otherwise). Run
# folders land under OUT as ablation.py names them (OUT/val/... for validation runs).
#
#   STEPS=5000 CHANNELS=256 OUT=runs/gpu/r3 WORKERS=3 bash benchmarks/gpu_rows.sh \
#       configs/encoding/default_cmu_extra.yaml:0:val configs/encoding/default_cmu_extra.yaml:1:val \
#       configs/encoding/default_cmu_extra.yaml:0:test ...
#
# On the 16-core H100 machine 6 runs with 3 workers each took 5.1-5.4 minutes for 5,000 steps of 64 x 128
# frames at width 256 (15.4-16.2 steps/s each, 95 steps/s in all; docs/results.md, "From scratch with the
# extra CMU clips"); before the batches got ~20 % cheaper, 4 runs on the H200 made 76 steps/s in all.
# Seven Table 2 rows at once on the H100 (3 workers each): rows 1-4 took 6.3-6.7 minutes; rows 5-7
# (discriminator, Eq. 8) are slower per step (590-666 s of training in all, the last part alone) and needed a
# resume after LIMIT=530 (docs/results.md, "Table 2 at the GPU budget").
# A row with data echoing (TrainConfig.echo, e.g. configs/extra/default_cmu_extra_echo4.yaml) makes `echo` steps
# per augmented batch: give it `echo` times the STEPS for the same augmentation work. Four such runs at once
# (STEPS=16000, 3 workers each) made 37.7-38.4 steps/s each on the H100, 153 in all, the GPU 96-99 % busy: with
# echoing the runs are bound by the GPU, not the CPU (docs/results.md, "Data echoing at the GPU budget"). For a
# cheaper GPU step, configs/extra/default_cmu_extra_echo4_bf16.yaml runs the network in bfloat16; time it first
# with `python benchmarks/train_step_speed.py --device cuda` (docs/results.md, "A cheaper GPU step").
set -u
STEPS=${STEPS:-4000}; CHANNELS=${CHANNELS:-128}; SPLIT=${SPLIT:-test}; OUT=${OUT:-runs/gpu}
LIMIT=${LIMIT:-540}; DEVICE=${DEVICE:-cuda}
CORES=$(nproc)
WORKERS=${WORKERS:-$(( (CORES + $# - 1) / $# ))}  # rounded up: a slightly oversubscribed CPU is the faster
export PYTHONPATH=${PYTHONPATH:-}:$PWD/src OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1
mkdir -p "$OUT/logs"
for spec in "$@"; do
  IFS=: read -r row seed split <<<"$spec"
  split=${split:-$SPLIT}
  log="$OUT/logs/$(basename "$row" .yaml)-$split-s$seed.log"
  timeout -s INT "$LIMIT" python3 benchmarks/ablation.py "$row" --split "$split" --seeds "$seed" --steps "$STEPS" \
    --channels "$CHANNELS" --threads 1 --workers "$WORKERS" --device "$DEVICE" --out "$OUT" >"$log" 2>&1 &
done
wait
for f in "$OUT"/logs/*.log; do echo "== $f"; tail -c 400 "$f" | tr '\r' '\n' | tail -2; done
