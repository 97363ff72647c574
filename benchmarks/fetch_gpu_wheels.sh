#!/usr/bin/env bash
# Wheels the GPU machine lacks (Python 3.12, x86-64, no network there): diffusers, CodeCarbon, Zeus,
# submitit and what they need beyond that machine's image, at the versions of requirements.lock, into
# .whl/ (ignored by git; the device tool carries it: carry [".whl"]). Run here, once per checkout:
#   bash benchmarks/fetch_gpu_wheels.sh
# Then check what a wheel needs: unzip -p .whl/NAME-*.whl '*/METADATA' | grep ^Requires-Dist
set -euo pipefail
cd "$(dirname "$0")/.."
# The packages, and those of their needs that the machine's image lacks (device library, KINDS.md,
# package list read 2026-11-17: it has numpy, pandas, torch, transformers, huggingface-hub, safetensors,
# pillow, regex, requests, click, rich, typer, httpx, psutil, py-cpuinfo, nvidia-ml-py, scikit-learn, ...).
NEEDED=(diffusers codecarbon zeus submitit importlib_metadata arrow Authlib joserfc cryptography pycountry
        pydantic pydantic_core annotated-types typing-inspection questionary prompt_toolkit wcwidth RapidFuzz
        tyro docstring_parser typeguard)
pins=()
for name in "${NEEDED[@]}"; do
  pin=$(grep -i -E "^${name//[-_]/[-_]}==" requirements.lock | head -1 || true)
  [ -n "$pin" ] || { echo "fetch_gpu_wheels: $name is not in requirements.lock" >&2; exit 2; }
  pins+=("$pin")
done
mkdir -p .whl
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform manylinux_2_34_x86_64 \
  --platform any -d .whl "${pins[@]}"
ls -1 .whl
du -sh .whl
