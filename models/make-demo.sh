#!/usr/bin/env bash
# Rebuilds the demo model end to end: synthetic dataset -> train -> ONNX export -> `inspectd eval`.
# Usage: models/make-demo.sh   (env: WORK=dir TRAIN=4000 VAL=300 TEST=500 EPOCHS=6 SEED=1 PYTHON=/usr/bin/python3)
# Needs Node 20 with this repo's node_modules, and a python3 with torch (>=1.13, CPU is enough), onnx, numpy, Pillow.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-/usr/bin/python3}
WORK=${WORK:-$(mktemp -d -t inspectd-demo-XXXXXX)}
SEED=${SEED:-1}
OUT=${OUT:-models/demo/inspectd-demo.onnx}
echo "work dir: $WORK"

npx tsc -p tsconfig.json || echo "tsc reported errors; continuing with the emitted JavaScript" >&2

# Training/validation frames (seed $SEED), and a held-out test set from another seed for the model card.
node dist/src/main.js dataset --out "$WORK/data" --train "${TRAIN:-4000}" --val "${VAL:-300}" --seed "$SEED" --quiet
node dist/src/main.js dataset --out "$WORK/heldout" --train 0 --val "${TEST:-500}" --seed $((SEED + 1000)) --quiet

mkdir -p "$(dirname "$OUT")"
time "$PY" models/train.py --data "$WORK/data" --out "$OUT" --epochs "${EPOCHS:-6}" --seed 0 --threads 2

node dist/src/cli/eval.js --model "$OUT" --data "$WORK/heldout" --split val --threads 2
ls -l "$OUT"
