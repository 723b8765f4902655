#!/usr/bin/env bash
# The CPU speed targets in one run, onnxruntime fp32 (the old default) beside OpenVINO (bf16 where the CPU has it):
#   1. the network alone, one object and eight (bench/cpu_runtimes.py, the runtimes interleaved);
#   2. the refiner with 8 objects in one batch against one at a time (bench/batching_benchmark.py);
#   3. the node end to end through ROS, B0-LSTM 240x320, one object, 4 iterations, 10 Hz camera, 2 threads
#      (bench/node_benchmark.py), onnx and openvino alternating, twice each.
# Tables on stdout and in outputs/cpu_targets/. Run on an otherwise idle machine (about 12 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
OUT=outputs/cpu_targets
mkdir -p "$OUT"
python bench/cpu_runtimes.py --threads 2 --models demo b0 b3 --runtimes "onnxruntime fp32" "OpenVINO fp32" "OpenVINO bf16" \
    --out "$OUT/network.md"
python bench/batching_benchmark.py --objects 8 --iterations 4 --backends onnx openvino --out "$OUT" | tee "$OUT/batching.md"
for round in 1 2; do
    for backend in onnx openvino; do
        python bench/node_benchmark.py --mode latency --untrained-phi 0 --objects 1 --iterations 4 \
            --tracking-iterations 4 --backend "$backend" --cpu-threads 2 --rate 10 --seconds 30 --no-progress \
            --out "$OUT/node_${backend}_$round" > /dev/null
        echo "node, $backend, round $round: $(grep -h 'refined FPS' "$OUT/node_${backend}_$round/node_latency.md")"
    done
done | tee "$OUT/node.md"
