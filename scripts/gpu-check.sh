#!/usr/bin/env bash
# One prepared check for a machine with an NVIDIA GPU (a few minutes): what the machine has, a build with nvcc,
# the CUDA letterbox kernel against the CPU letterbox, their timings on 1080p and 4K, and where TensorRT is
# installed, `inspectd build-engine` plus detections on the fixtures compared with onnxruntime CPU.
# It prints what it could not run and why. Exit 0 when everything that ran passed (things that could not run
# are not failures), 1 when a check failed.
#
# Usage: scripts/gpu-check.sh [--no-build]
#   --no-build               use the existing build (build/Release, dist) instead of rebuilding
# Environment:
#   INSPECTD_SHARED_FIXTURES the fixtures folder (default: ./shared/fixtures or ../shared/fixtures)
#   GPU_CHECK_MODELS         comma-separated fixture models for TensorRT (default: yolov8n-coco-int8.onnx)
#   GPU_CHECK_PRECISION      fp16 (default), fp32 or int8
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=1
[ "${1:-}" = "--no-build" ] && build=0

failed=()
not_run=()
section() { printf '\n== %s\n' "$1"; }
fail() { failed+=("$1"); echo "FAILED: $1"; }
skip() { not_run+=("$1"); echo "not run: $1"; }

section "machine"
echo "date (UTC): $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "host: $(uname -srm)"
echo "node: $(node --version 2>/dev/null || echo 'not found')"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader 2>&1 | sed 's/^/GPU: /'
else
  echo "GPU: nvidia-smi not found"
fi
nvcc_bin="$(node native/find_tensorrt.cjs nvcc 2>/dev/null)"
if [ -n "$nvcc_bin" ]; then
  echo "nvcc: $("$nvcc_bin" --version | grep -o 'release [^,]*, V[0-9.]*') ($nvcc_bin)"
else
  echo "nvcc: not found"
fi
if [ "$(node native/find_tensorrt.cjs found 2>/dev/null)" = "1" ]; then
  echo "TensorRT headers: $(node native/find_tensorrt.cjs include), libraries: $(node native/find_tensorrt.cjs lib)"
else
  echo "TensorRT headers: not found"
fi
pkgs="$(dpkg-query -W -f='${Package} ${Version}\n' 'libnvinfer*' 'tensorrt*' 'cuda-runtime*' 'nvidia-jetpack' 2>/dev/null | sort -u | head -8)"
[ -n "$pkgs" ] && echo "$pkgs" | sed 's/^/package: /'
trtexec_bin="$(command -v trtexec || ls /usr/src/tensorrt/bin/trtexec "${TENSORRT_ROOT:-/nonexistent}/bin/trtexec" 2>/dev/null | head -1)"
echo "trtexec: ${trtexec_bin:-not found}"

section "build"
if [ "$build" = 1 ]; then
  t0=$SECONDS
  if [ -d node_modules ]; then
    npx node-gyp rebuild >/tmp/inspectd-gpu-check-build.log 2>&1 && npx tsc -p tsconfig.json >>/tmp/inspectd-gpu-check-build.log 2>&1
  else
    npm ci >/tmp/inspectd-gpu-check-build.log 2>&1
  fi
  if [ $? -ne 0 ]; then
    tail -40 /tmp/inspectd-gpu-check-build.log
    fail "build (log: /tmp/inspectd-gpu-check-build.log)"
  else
    echo "built in $((SECONDS - t0)) s"
  fi
else
  echo "--no-build: using build/Release and dist as they are"
fi
node native/find_tensorrt.cjs summary
ls build/Release/*.node 2>/dev/null | sed 's/^/addon: /'

section "CUDA device (inspectd_cuda_check)"
device_ok=0
if [ -f build/Release/inspectd_cuda_check.node ]; then
  node -e "
    const d = require('./build/Release/inspectd_cuda_check.node').device();
    console.log(JSON.stringify(d));
    process.exit(d.available ? 0 : 3);
  "
  case $? in
    0) device_ok=1 ;;
    3) skip "the CUDA kernel on a GPU: no usable CUDA device (reason above)" ;;
    *) fail "inspectd_cuda_check does not load" ;;
  esac
else
  skip "the CUDA kernel: inspectd_cuda_check not built (no nvcc at build time)"
fi

section "kernel vs CPU letterbox (test/native/cuda-letterbox.test.ts)"
if [ -f dist/test/native/cuda-letterbox.test.js ]; then
  # NODE_TEST_CONTEXT (set when this script runs under node --test) would switch the child to a binary report.
  out="$(env -u NODE_TEST_CONTEXT node --test dist/test/native/cuda-letterbox.test.js 2>&1)"
  rc=$?
  echo "$out" | grep -E '^(not )?ok |^# (pass|fail|skipped)'
  [ $rc -eq 0 ] || fail "cuda-letterbox.test.js"
  if [ "$device_ok" = 1 ] && echo "$out" | grep -q 'on the GPU matches.*# SKIP'; then
    fail "the GPU comparison skipped although a CUDA device is usable"
  fi
else
  skip "cuda-letterbox.test.js: dist not built"
fi

section "timing: CPU letterbox + tensor upload vs frame upload + kernel (1080p, 4K -> 640x640)"
if [ "$device_ok" = 1 ]; then
  node scripts/cuda-letterbox-bench.mjs --iterations 30 || fail "cuda-letterbox-bench.mjs"
else
  skip "timing: no usable CUDA device"
fi

section "TensorRT: build-engine and detections vs onnxruntime CPU"
fixtures="${INSPECTD_SHARED_FIXTURES:-}"
if [ -z "$fixtures" ]; then
  for d in shared/fixtures ../shared/fixtures; do [ -d "$d/models" ] && fixtures="$d" && break; done
fi
trt_state="$(node -e "
  const t = require('./build/Release/inspectd_native.node').tensorrt;
  if (!t.available) { console.log('unavailable: ' + t.reason); process.exit(0); }
  let cc; try { cc = t.computeCapability(); } catch (e) { console.log('unavailable: ' + e.message); process.exit(0); }
  console.log('ok TensorRT ' + t.version + ', sm ' + cc + (t.standin ? ' (stand-in!)' : ''));
" 2>&1)"
echo "production addon: $trt_state"
if [ -z "$fixtures" ]; then
  skip "TensorRT detections: fixtures not found (set INSPECTD_SHARED_FIXTURES)"
elif [ "${trt_state#ok}" = "$trt_state" ]; then
  skip "TensorRT: the production addon has no usable TensorRT ($trt_state)"
  # The onnxruntime side still runs: it checks the fixtures and the comparison itself.
  node scripts/gpu-check-detect.mjs --fixtures "$fixtures" --models "${GPU_CHECK_MODELS:-yolov8n-coco-int8.onnx}" 2>&1 | grep -v '^not run:' \
    || fail "onnxruntime CPU detections vs the fixtures' references"
else
  cache="$(mktemp -d -t inspectd-gpu-check-engines.XXXXXX)"
  precision="${GPU_CHECK_PRECISION:-fp16}"
  flag=""; [ "$precision" = fp32 ] || flag="--$precision"
  IFS=, read -ra models <<<"${GPU_CHECK_MODELS:-yolov8n-coco-int8.onnx}"
  for m in "${models[@]}"; do
    t0=$SECONDS
    if timeout 900 node dist/src/main.js build-engine --model "$fixtures/models/$m" $flag --cache "$cache" >"$cache/$m.build.log" 2>&1; then
      echo "build-engine $m $precision: ok in $((SECONDS - t0)) s -> $(tail -1 "$cache/$m.build.log")"
    else
      tail -15 "$cache/$m.build.log"
      fail "build-engine $m $precision (log: $cache/$m.build.log)"
    fi
  done
  node scripts/gpu-check-detect.mjs --fixtures "$fixtures" --cache "$cache" --precision "$precision" --models "${GPU_CHECK_MODELS:-yolov8n-coco-int8.onnx}" \
    || fail "TensorRT detections vs onnxruntime CPU"
  echo "engines kept in $cache"
fi

section "summary"
echo "could not run (${#not_run[@]}):"
for n in "${not_run[@]}"; do echo "  - $n"; done
echo "failed (${#failed[@]}):"
for f in "${failed[@]}"; do echo "  - $f"; done
[ ${#failed[@]} -eq 0 ]
