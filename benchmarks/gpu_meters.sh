#!/usr/bin/env bash
# The three meters side by side on one GPU, through the local executor (one worker on GPU 0):
# full-size SD2 and SD3.5 Large (random weights, real architectures), read at once by Zeus, our raw
# NVML reader and CodeCarbon. Run on a GPU machine from the repository root:
#   bash benchmarks/gpu_meters.sh OUTDIR
# The device session carried diffusers, codecarbon, zeus and submitit as wheels (see the device README).
set -euo pipefail
out=${1:?give an output folder}
nvidia-smi --query-gpu=name,driver_version,power.limit,power.draw --format=csv
python3 - <<'PY'
import torch
from energy_nb.measurement import meters as measure
dev = torch.device("cuda")
print("default meters:", measure.default_meters(dev), "| NVML id of cuda:0:", measure.nvml_id(dev))
PY
python3 -m energy_nb sweep --executor local --gpus 0 --device cuda --size full --models sd2 sd35 \
  --steps 10 30 --resolutions 512 1024 --dtypes fp16 --prompts 4 --meters zeus nvml codecarbon \
  --idle-seconds 10 --min-window 2 --out "$out/sweep" --no-progress || true
python3 -m energy_nb sweep status "$out/sweep" | tee "$out/status.txt"
python3 -m energy_nb sweep merge "$out/sweep"
cp "$out/sweep/merged.csv" "$out/h100-meters.csv"
tail -n 30 "$out"/sweep/logs/*_0_log.err > "$out/worker-log-tail.txt" || true
