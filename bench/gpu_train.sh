#!/usr/bin/env bash
# Train the demo refiner on one GPU for a fixed time, evaluate it, and leave the bundle where a caller
# collects it (a lent device machine returns $OUT):
#   bash bench/gpu_train.sh [minutes=8] [config=config/demo_correlation.yaml] [out=${OUT:-outputs}/gpu_train]
# Set-up (venv, pinned wheels, the demo data generated here) is part of the run. The renderer runs on the
# GPU through EGL (the log prints GL_RENDERER; llvmpipe there means the GPU driver was not found).
# Training stops at the time limit (train.max_seconds), the checkpoint is bundled (float16 + ONNX) into
# $out/checkpoint and evaluated on the held-out split with the README's arguments; metrics.json, metrics.md and
# accuracy.png land in $out. A model trained here may be bundled into data/demo/checkpoint with its command.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES="${1:-8}"
CONFIG="${2:-config/demo_correlation.yaml}"
OUT_DIR="${3:-${OUT:-outputs}/gpu_train}"
bash scripts/setup.sh
source scripts/env.sh
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device: this script is for a GPU machine'"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
python -c "from deeprm_ros.render.context import create_context; c = create_context(); print('GL_RENDERER', c.info['GL_RENDERER'])" || true
mkdir -p "$OUT_DIR"
if [ ! -d datasets/demo/test ]; then
  python -m deeprm_ros.data.synthetic --models data/demo/models --out datasets/demo --split train_pbr --images 4000 --seed 0
  python -m deeprm_ros.data.synthetic --models data/demo/models --out datasets/demo --split test --images 300 --seed 1
fi
RUN=runs/gpu_demo
python -m deeprm_ros.train --config "$CONFIG" --out "$RUN" --resume \
  --set train.device=cuda --set train.amp=true --set train.threads=0 --set data.images_per_batch=32 \
  --set train.max_seconds=$((MINUTES * 60)) 2>&1 | tee "$OUT_DIR/train.log"
cp "$RUN/train_log.csv" "$OUT_DIR/" || true
python -m deeprm_ros.export --checkpoint "$RUN" --bundle "$OUT_DIR/checkpoint"
python -m deeprm_ros.evaluate --checkpoint "$OUT_DIR/checkpoint" --data datasets/demo --split test \
  --targets test_targets_bop19.json --iterations 1 2 4 8 --seed 1 --out "$OUT_DIR"
