#!/usr/bin/env bash
# Rebuilds the demo model end to end: synthetic dataset -> train -> ONNX export -> `inspectd eval`.
# Usage: models/make-demo.sh   (env: WORK=dir TRAIN=4000 VAL=300 TEST=500 EPOCHS=10 SEED=1 THREADS=2 PYTHON=/usr/bin/python3)
# Needs Node 20 with this repo's node_modules, and a python3 with torch (>=1.13, CPU is enough), onnx, numpy, Pillow.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-/usr/bin/python3}
WORK=${WORK:-$(mktemp -d -t inspectd-demo-XXXXXX)}
SEED=${SEED:-1}
OUT=${OUT:-models/demo/inspectd-demo.onnx}
echo "work dir: $WORK"

npx tsc -p tsconfig.json || echo "tsc reported errors; continuing with the emitted JavaScript" >&2

# Training/validation frames (seed $SEED): moving belts, plates whole and cut by the frame's edges, every fifth
# image a still scene; and a held-out test set of conveyor frames from another seed for the model card.
node dist/src/main.js dataset --out "$WORK/data" --train "${TRAIN:-4000}" --val "${VAL:-300}" --seed "$SEED" --scene mixed --quiet
node dist/src/main.js dataset --out "$WORK/heldout" --train 0 --val "${TEST:-500}" --seed $((SEED + 1000)) --quiet

mkdir -p "$(dirname "$OUT")"
time "$PY" models/train.py --data "$WORK/data" --out "$OUT" --epochs "${EPOCHS:-10}" --seed 0 --threads "${THREADS:-2}"

node dist/src/cli/eval.js --model "$OUT" --data "$WORK/heldout" --split val --threads "${THREADS:-2}"
ls -l "$OUT"
