#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one run: DHAG's CUDA tests, the speed benchmark (a 50-epoch
# training of KDD's size, float32 and bf16), and DHAG's Table 2 runs with their fit times.
#
#   bash docs/bench/gpu-checks.sh DATASETS_DIR RESULTS_DIR [SECONDS]
#
# Run from the repository's root with a python3 that has torch (CUDA build), numpy, scipy, pandas,
# safetensors and pytest. Each step has its own time limit and a step is skipped when the whole run's
# SECONDS (default 400) would not leave it its limit, so a slow machine still returns the steps before;
# the JSON files land in RESULTS_DIR, the log on stdout.
set -u
data=${1:?the benchmark datasets folder}
out=${2:?a folder for the JSON results}
seconds=${3:-400}
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
$py -c 'import torch, sys; print("python", sys.version.split()[0], "torch", torch.__version__,
"cuda", torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() else "NO CUDA")'
lscpu | grep -E '^Model name|^CPU\(s\)' || true

step() {
    local limit=$1
    shift
    if ((SECONDS + limit > seconds)); then
        echo "== skipped (${SECONDS} s of ${seconds} used, needs up to ${limit} s): $*"
        return
    fi
    echo "== $*"
    local began=$SECONDS
    timeout "$limit" "$@"
    echo "== exit $? after $((SECONDS - began)) s"
}

step 60 $py -m pytest tests/test_cuda.py --noconftest -p no:cacheprovider -o addopts= -q -rs
step 60 $py -m dhag bench speed --device cuda --epochs 50 --json "$out/speed_h200.json"
step 90 $py -m dhag bench table2 --data "$data" --datasets kdd --detectors dhag --seeds 1 \
    --json "$out/table2_dhag_h200_kdd_seed0.json"
step 90 $py -m dhag bench table2 --data "$data" --datasets kddrev --detectors dhag --seeds 1 \
    --json "$out/table2_dhag_h200_kddrev_seed0.json"
step 60 $py -m dhag bench table2 --data "$data" --datasets thyroid,pageblocks,shuttle --detectors dhag \
    --json "$out/table2_dhag_h200.json"
step 30 $py -m dhag bench speed --device cuda --epochs 10 --bf16 --json "$out/speed_h200_bf16.json"
echo "== done after ${SECONDS} s"
