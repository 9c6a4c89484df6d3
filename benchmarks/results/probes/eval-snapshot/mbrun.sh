#!/bin/sh
# $1 = source tree (PYTHONPATH), $2 = model, $3 = epochs
d=$(mktemp -u /tmp/mbrun.XXXXXX)
cd /tmp
PYTHONPATH=$1 python -c "from hetrec.cli import main; main()" train --dataset lastfm --model $2 --data-dir /work/shared/data --threads 1 \
  --lr 0.0043763467925040135 --set num_layers=4 --set hidden_size=128 --set reg_weight=0.0014098902777283505 \
  --set temperature=0.9436358891048744 --set history_fanout=16 --epochs $3 --patience 100 --out $d >$d.log 2>&1
rc=$?
tail -2 $d.log >&2
rm -rf $d $d.log
exit $rc
