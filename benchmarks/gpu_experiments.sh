#!/usr/bin/env bash
# The one prepared GPU run behind docs/results.md §5 and the GPU rows of docs/benchmarks.md. Needs only torch:
# pack the bundles first (`.venv/bin/python benchmarks/llmhni_experiments.py pack <dataset>`), then
#   OUT=<results folder> bash benchmarks/gpu_experiments.sh
# BUDGET (seconds per run), WORKERS and SPEED_EPOCHS shrink it, BUNDLES points elsewhere and PYTHON picks the interpreter, for a dry run on a CPU.
set -uo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=. OMP_NUM_THREADS=1
B=${BUNDLES:-benchmarks/out/bundle}
RUN="${PYTHON:-python3} benchmarks/llmhni_experiments.py run"
BUDGET=${BUDGET:-170} WORKERS=${WORKERS:-14} SPEED_EPOCHS=${SPEED_EPOCHS:-5}
ARMS="llmhni wo_semantic wo_alignment wo_denoising wo_hallucination"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no GPU"
# 1. speed, one run at a time: LightGCN (rlmrec split, issue 3) and every LLMHNI arm (llard split)
$RUN $B/amazon-book.pt --arms lightgcn --seeds --smoke --speed --speed-epochs "$SPEED_EPOCHS" --out /tmp/gpu_speed || exit 1
$RUN $B/amazon-book-llard.pt --arms lightgcn $ARMS --seeds --smoke --speed --speed-epochs "$SPEED_EPOCHS" \
    --init pretrained --lr 5e-3 --out /tmp/gpu_speed || exit 1
cp /tmp/gpu_speed/speed.jsonl "$OUT/speed.jsonl"  # few files under $OUT: the device returns at most eight
# 2. side by side: the LLMHNI table (issue 6; λ and start chosen on validation with seed 1) and LightGCN with
#    L2 1e-4 on both splits (issue 3)
$RUN $B/amazon-book-llard.pt --arms lightgcn lightgcn_continued $ARMS --seeds 1 2 3 --lr 5e-3 \
    --sweep-lambdas 0.1 0.01 --sweep-inits pretrained scratch --ease 100 --workers "$WORKERS" \
    --time-budget "$BUDGET" --out "$OUT/llmhni" > "$OUT/llmhni.log" 2>&1 &
$RUN $B/amazon-book.pt $B/amazon-book-llard.pt --arms lightgcn --reg 1e-4 --lr 5e-3 --seeds 1 2 3 --workers 3 \
    --time-budget "$BUDGET" --out "$OUT/reg" > "$OUT/reg.log" 2>&1 &
wait
cat "$OUT"/speed.jsonl "$OUT"/llmhni/summary.md "$OUT"/reg/summary.md
grep -h FAILED "$OUT"/*.log
