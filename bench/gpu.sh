#!/usr/bin/env bash
# All of benchmark (a) and (b) in one run on a GPU machine (after `bash scripts/setup.sh`):
# B0/B2/B3 x LSTM/GRU/MLP x 1/4/8 objects, torch, torch.compile and onnxruntime-gpu when present, FPS at 2/4/6/8 iterations (Table 3),
# then 8 objects in one batch against one at a time. Tables on stdout, PNGs in outputs/bench.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device: this script is for a GPU machine'"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
# onnxruntime-gpu (pip install onnxruntime-gpu in place of onnxruntime) adds the ONNX column on the CUDA provider.
BACKENDS="torch compile"
if python -c "import onnxruntime as o, sys; sys.exit('CUDAExecutionProvider' not in o.get_available_providers())"; then
    BACKENDS="$BACKENDS onnx"
else
    echo "onnxruntime has no CUDA provider here: no onnxruntime-gpu column"
fi
python bench/refiner_benchmark.py --phis 0 2 3 --kinds lstm gru mlp --objects 1 4 8 --backends $BACKENDS --repeats 10
python bench/batching_benchmark.py --phi 3 --objects 8 --iterations 8 --backends torch
