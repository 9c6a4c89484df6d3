#!/usr/bin/env bash
# Tune every model with the same trial budget on fold-0 validation: one `hetrec tune` study per
# model in OUT/<dataset>/<model>/, the layout `benchmarks/accuracy.py --tuned OUT` reads.
# Resumable: rerun the same command; a study that has its N finished trials is skipped without
# reading the data, a stopped one continues where it stopped (docs/tuning.md).
#
#   bash benchmarks/tune_all.sh lastfm 50 [models] [extra hetrec tune args, e.g. --threads 1 --data-dir D]
#   bash benchmarks/tune_all.sh lastfm 50 "" --threads 1          # every model, extra args
#
# models: comma-separated (default: every registered model that has a search space).
# OUT: $TUNE_OUT, default benchmarks/results/tuning. Models fail independently: the script goes
# on with the others and exits non-zero at the end if any failed.
set -uo pipefail
dataset=$1; trials=$2; models=${3:-}; shift 2; [ $# -gt 0 ] && shift
out=${TUNE_OUT:-benchmarks/results/tuning}
if [ -z "$models" ]; then
  models=$(python -c "from hetrec.models import MODELS; from hetrec.tune import SPACES; print(','.join(m for m in SPACES if m in MODELS))" 2>/dev/null)
fi
failed=()
for model in ${models//,/ }; do
  echo "== $model: $trials trials -> $out/$dataset/$model" >&2
  hetrec tune --dataset "$dataset" --model "$model" --trials "$trials" --out "$out/$dataset/$model" "$@" \
    || failed+=("$model")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
