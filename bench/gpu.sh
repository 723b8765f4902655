#!/usr/bin/env bash
# All of benchmark (a) and (b) in one run on a GPU machine (after `bash scripts/setup.sh`):
# B0/B2/B3 x LSTM/GRU/MLP x 1/4/8 objects; torch, torch.compile, torch.compile with CUDA graphs
# (mode reduce-overhead), and onnxruntime-gpu's CUDA and TensorRT (fp16) providers when present; FPS at
# 2/4/6/8 iterations (Table 3), then 8 objects in one batch against one at a time. Tables on stdout, PNGs in
# outputs/bench. The paper's Table 3 (RTX 3060): B3-LSTM 34.0 FPS at 2 iterations, 9.5 at 8.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device: this script is for a GPU machine'"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
# onnxruntime-gpu (pip install onnxruntime-gpu in place of onnxruntime) adds the onnx column on the CUDA
# provider, and onnx_trt where its TensorRT provider is there (the tensorrt wheels).
BACKENDS="torch compile cudagraphs"
providers=$(python -c "import onnxruntime as o; print(' '.join(o.get_available_providers()))")
if [[ " $providers " == *" CUDAExecutionProvider "* ]]; then BACKENDS="$BACKENDS onnx";
else echo "onnxruntime has no CUDA provider here: no onnxruntime-gpu column"; fi
if [[ " $providers " == *" TensorrtExecutionProvider "* ]] && python -c "import tensorrt" 2>/dev/null; then
    BACKENDS="$BACKENDS onnx_trt"
else echo "no TensorRT provider (or no tensorrt package) here: no TensorRT column"; fi
echo "backends: $BACKENDS"
python bench/refiner_benchmark.py --phis 0 3 --kinds lstm --objects 1 8 --backends $BACKENDS --repeats 10
python bench/refiner_benchmark.py --phis 0 2 3 --kinds lstm gru mlp --objects 1 4 8 --backends torch --repeats 10
python bench/batching_benchmark.py --phi 3 --objects 8 --iterations 8 --backends torch
