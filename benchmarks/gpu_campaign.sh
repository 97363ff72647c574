#!/usr/bin/env bash
# The GPU campaign's one prepared command: the next unfinished chunk (under 5 minutes) on the lent GPU.
# Here, once: bash benchmarks/fetch_gpu_wheels.sh   (diffusers, CodeCarbon, Zeus, submitit into .whl/)
# With the device tool: run(command="bash benchmarks/gpu_campaign.sh", carry=[".whl"], timeout_s=420)
# Then: cp <files_at>/H200.csv data/measurements/H200.csv, note it in data/MANIFEST.yml, commit.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-_build/gpu-campaign}
mkdir -p "$out"
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "gpu_campaign: installing the carried wheels failed" >&2; exit 1; }
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm,memory.total --format=csv || true
python3 benchmarks/gpu_campaign.py run --out-dir "$out" --deadline "${DEADLINE_S:-270}" 2>&1 | tee "$out/campaign-log.txt"
exit "${PIPESTATUS[0]}"
