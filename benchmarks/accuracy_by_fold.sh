#!/usr/bin/env bash
# Run accuracy cells fold by fold (every listed model on fold 0, then fold 1, ...), so that a
# run stopped at any time leaves whole folds of the table. Finished cells are read back, an
# interrupted cell resumes from its last epoch: rerun the same command to continue.
#
#   bash benchmarks/accuracy_by_fold.sh ml-1m mostpop,itemknn,bprmf,lightgcn "0 1 2 3 4" [extra args]
#
# Two such workers over disjoint model lists use the two cores of the development machine.
set -euo pipefail
dataset=$1; models=$2; folds=${3:-"0 1 2 3 4"}; shift 3 || shift $#
for f in $folds; do
  python benchmarks/accuracy.py --dataset "$dataset" --models "$models" --folds "$f" --threads 1 "$@"
done
