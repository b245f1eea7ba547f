#!/usr/bin/env bash
# The prepared GPU run for the baselines table (docs/results.md): every method × 3 seeds on the four partitions,
# then the speed ratios. Needs only torch: pack the bundles first
# (`.venv/bin/python benchmarks/llmhni_experiments.py pack <dataset>` for amazon-book, amazon-book-llard, yelp,
# yelp-llard), then
#   OUT=<results folder> bash benchmarks/gpu_experiments.sh
# BUDGET (seconds per run), WORKERS, EPOCHS, BUNDLES and PYTHON shrink or redirect it for a dry run on a CPU.
set -uo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=. OMP_NUM_THREADS=1
B=${BUNDLES:-benchmarks/out/bundle}
PY=${PYTHON:-python3}
BUDGET=${BUDGET:-240} WORKERS=${WORKERS:-14} EPOCHS=${EPOCHS:-300}
SET="lr=5e-3 patience=10 epochs=$EPOCHS time_budget_s=$BUDGET"
ALL="lightgcn wbpr tce bod sgl simgcl xsimgcl rlmrec_con llard_graph"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no GPU"
$PY benchmarks/bench_methods.py $B/amazon-book.pt --methods lightgcn wbpr tce bod sgl simgcl xsimgcl \
    --epochs 4 --repeats 2 --device auto > "$OUT/speed.md" 2>&1 || exit 1
$PY benchmarks/llmhni_experiments.py run $B/amazon-book.pt $B/amazon-book-llard.pt $B/yelp.pt $B/yelp-llard.pt \
    --arms $ALL --seeds 1 2 3 --set $SET --workers "$WORKERS" --out "$OUT/baselines" > "$OUT/baselines.log" 2>&1
$PY benchmarks/llmhni_experiments.py run $B/amazon-book-llard.pt $B/yelp-llard.pt --arms lightgcn sgl simgcl \
    --seeds 1 2 3 --set $SET --select-on-test --workers "$WORKERS" --out "$OUT/select_on_test" > "$OUT/sot.log" 2>&1
cat "$OUT/speed.md" "$OUT/baselines/summary.md" "$OUT/select_on_test/summary.md"
grep -h "FAILED\|SKIPPED" "$OUT"/*.log
# issue 28: training cost at 10^6 and 10^7 interactions (data drawn on the device), fixed batch and growing batch
$PY benchmarks/gpu_scale.py --sizes 1000000 10000000 --epochs 2 --methods lightgcn sgl xsimgcl > "$OUT/gpu_scale.jsonl" 2> "$OUT/gpu_scale.log"
$PY benchmarks/gpu_scale.py --sizes 10000000 --epochs 2 --methods lightgcn --batch-scale >> "$OUT/gpu_scale.jsonl" 2>> "$OUT/gpu_scale.log"
cat "$OUT/gpu_scale.jsonl"
