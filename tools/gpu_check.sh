#!/usr/bin/env bash
# The prepared GPU check: one call of the device tool (~9.5 min of a 15-minute lease on one H100/H200).
#
#   device run:  bash tools/gpu_check.sh            (writes $OUT; timeout_s 600)
#   here, first: bash tools/gpu_check.sh --smoke    (the same steps at a tiny size on the CPU, ~1 min)
#
# Steps, each under its own time limit so that one slow step cannot eat the others:
#   1. training speed of the project's own train(): regime network (steps/s; issue 11 target >= 1000 on
#      an H100) and the paper network at 327680 px (spectra/s; target >= 5000), plus bare-step kernels
#      (eager, torch.compile, bf16) of the regime network;
#   2. inference of the paper network, fp32 and bf16 autocast at batch 1/16/256/1024, the polyphase
#      decoder in bf16, each bf16 form also as a CUDA graph (issue 13 target >= 15000 spectra/s on an H100);
#   3. the science benchmark: the regime pair trained to convergence on the GPU, the claims checked;
#   4. the paper's scale: survey on the device, both paper networks for a few epochs, Figs. 5 and 7;
#   5. resume on CUDA: the tests of an interrupted run and of its checkpoint's generator states, on the GPU.
# Logs and CSVs go to $OUT (the device tool brings them back); the README and the issue note take the
# figures with the device's name.
set -uo pipefail
cd "$(dirname "$0")/.."
SMOKE=0
[ "${1:-}" = "--smoke" ] && SMOKE=1
OUT=${OUT:-/tmp/karaoke_gpu_check}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PY:-python3}
# a given PY wins; in smoke mode here, the project venv
[ -x .venv/bin/python ] && [ $SMOKE = 1 ] && [ "$PY" = python3 ] && PY=.venv/bin/python

step() {  # step NAME SECONDS COMMAND...: run with a limit, log to $OUT/NAME.log, go on whatever happens
    local name=$1 limit=$2; shift 2
    local t0=$SECONDS
    echo "=== $name (limit ${limit}s): $*"
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    tail -n 25 "$OUT/$name.log"
    echo "=== $name: exit $rc after $((SECONDS - t0)) s"
}

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')"; } | tee "$OUT/device.txt"

RESUME_TESTS="resumes_to_the_same_weights or rng_states_load"
if [ $SMOKE = 1 ]; then
    step training 300 $PY benchmarks/training.py --spectra 64
    step inference 300 $PY benchmarks/inference.py --pixels 4096 --batches 1 --repeats 1 --csv "$OUT/inference.csv"
    step science 600 $PY benchmarks/science.py --preset ci --out "$OUT/science_ci.csv"
    step paper_scale 300 $PY benchmarks/paper_scale.py --smoke
    step resume 120 $PY -m pytest -q -p no:cacheprovider tests/nn/test_train.py -k "$RESUME_TESTS"
else
    # ~570 s in all: inside one 600-s call, with the machine's start out of the 15-minute lease
    step training 140 $PY benchmarks/training.py --cuda-only --paper --paper-spectra 2048
    step kernels 40 $PY benchmarks/training.py --cuda-only --kernels
    # resume on CUDA: train() picks the GPU by itself; an interrupted run (also one interrupted after
    # a rollback of the collapse guard) resumes to the same weights
    step resume 30 $PY -m pytest -q -p no:cacheprovider tests/nn/test_train.py -k "$RESUME_TESTS"
    step inference 70 $PY benchmarks/inference.py --cuda-only --csv "$OUT/inference_cuda.csv"
    # the two small networks side by side on the one GPU (launch-bound: they overlap)
    KARAOKE_TRAIN_WORKERS=2 step science 190 $PY benchmarks/science.py --device cuda --out "$OUT/science_regime.csv"
    step paper_scale 100 $PY benchmarks/paper_scale.py --epochs 2 --work /tmp/paper_scale --out "$OUT/paper_scale.csv"
fi
echo "=== done in $SECONDS s; files in $OUT"
