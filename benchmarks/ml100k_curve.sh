#!/usr/bin/env bash
# Issue 44: MovieLens-100K's judge-worth curve (docs/results.md, "What a judge is worth") measured anew now that
# validation pairs are never candidates, as a queue that survives sessions: run it again and it continues where
# it stopped (each prepared bundle is committed, each training run recorded in $R/runs/runs.jsonl and skipped
# when recorded; a kill loses at most the run in flight). Decisive cells first:
#
#   1. -noise10: G′ = G and a perfect simulated judge's G′ at k = 20 (81% of the injected edges among the
#      candidates): does reach or headroom bind on ml-100k? 3 seeds, λ1 = 0.02 (the asset's) and 0
#   2. both partitions at k = 2: the simulated judges at AUC 0.5 … 1.0 and the semantic judge, both rules, seed by
#      seed, AUC 1 and 0.9 first; λ1 = 0.02 then 0 (summary keeps the better on validation)
#
#   nohup bash benchmarks/ml100k_curve.sh > benchmarks/out/ml100k_curve.log 2>&1 &
#
# Then: .venv/bin/python benchmarks/judge_worth.py summary $R/runs/runs.jsonl --bundles $R/*.pt ...
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
PY=${PYTHON:-.venv/bin/python}
R=benchmarks/results/judge-worth-ml100k
JW=benchmarks/out/judge_worth_ml100k
SEEDS=${SEEDS:-1 2 3}
SETTINGS="lr=5e-3 patience=10 min_epochs=50 params.lambda_hal=0.02 params.hard_share=0"  # the first curve's (λ2 0.2 collapses here)
mkdir -p "$R/runs" "$JW"
say() { echo "$(date -u +%FT%TZ) $*"; }

have_variant() {  # bundle, variant
    [ -f "$1" ] && $PY -c "import sys, torch; sys.exit(0 if '$2' in torch.load('$1', weights_only=True).get('gprimes', {}) else 1)"
}
lake_has() {  # table, partition: whether the lake has it (then prepare reuses the stages up to it)
    $PY -c "import sys; from llmhni_pipeline.lake import default_lake_dir, table_path; \
sys.exit(0 if table_path(default_lake_dir(), '$1', '$2').exists() else 1)"
}
prepare() {  # partition, variant that shows it is done, then prepare's arguments
    local d=$1 done_when=$2
    shift 2
    if ! have_variant "$R/$d.pt" "$done_when"; then
        say "prepare $d: $*"
        [ -f "$R/$d.pt" ] && cp "$R/$d.pt" "$JW/$d.pt"
        local reuse=()
        if lake_has pretrained_recommender "$d"; then reuse=(--reuse-upstream); fi
        $PY benchmarks/judge_worth.py prepare "$d" "$@" "${reuse[@]}" --out "$JW" --merge
        cp "$JW/$d.pt" "$R/$d.pt"
    fi
}
edited() {  # bundle, then variant names: those whose G′ differs from G (a G′ = G variant trains nothing new)
    local b=$1
    shift
    $PY - "$b" "$@" <<'PYEOF'
import json, sys, torch
meta = json.loads(torch.load(sys.argv[1], weights_only=True)["gprime_meta"])
print(" ".join(f"{sys.argv[1]}::{v}" for v in sys.argv[2:] if v in meta and (meta[v]["removed"] or meta[v]["added"])))
PYEOF
}
run() {  # bundles, then --set extras after --
    $PY benchmarks/llmhni_experiments.py run "$@" --arms llmhni_asset --threads "$OMP_NUM_THREADS" --workers 1 \
        --out "$R/runs"
}

N=ml-100k-noise10
H=ml-100k-hide10
say "1. $N: the perfect judge at k = 20"
prepare "$N" paper@1@k20 --aucs 1.0 --rules paper --k 20
for lambda_de in 0.02 0; do
    for s in $SEEDS; do
        run "$R/$N.pt" "$R/$N.pt::paper@1@k20" --seeds "$s" --set $SETTINGS params.lambda_de=$lambda_de
    done
done

say "2. the curve at k = 2"
for d in $N $H; do
    prepare "$d" validated@semantic --aucs 0.5 0.6 0.7 0.8 0.9 1.0 --semantic --k 2
done
ORDER="1 0.9 0.8 semantic 0.7 0.6 0.5"
for lambda_de in 0.02 0; do
    for s in $SEEDS; do
        for a in $ORDER; do
            for d in $H $N; do
                # shellcheck disable=SC2046
                run "$R/$d.pt" $(edited "$R/$d.pt" "paper@$a" "validated@$a") --seeds "$s" \
                    --set $SETTINGS params.lambda_de=$lambda_de
            done
        done
    done
done
say "done: $PY benchmarks/judge_worth.py summary $R/runs/runs.jsonl --bundles $R/$H.pt $R/$N.pt"
