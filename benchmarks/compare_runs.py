"""Paired per-fold comparison of two run folders of one model (e.g. two training settings).

    python benchmarks/compare_runs.py benchmarks/results/accuracy-patience8/lastfm/mthgt \
        benchmarks/results/accuracy/lastfm/mthgt

prints, over the folds both folders finished, mean ± std of (A − B) and in how many folds A is
ahead, for P/R/HR/NDCG@10, plus each folder's mean ± std on those folds.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import collect_rows, fmt, paired_table  # noqa: E402

from hetrec.eval import mean_std  # noqa: E402

COLS = ("P@10", "R@10", "HR@10", "NDCG@10")


def compare(a: Path, b: Path, k: int = 5) -> str:
    rows = [dict(r, model=label) for label, d in (("A", a), ("B", b))
            for r in collect_rows(d.parent, [d.name], k, dataset="")]
    common = {r["fold"] for r in rows if r["model"] == "A"} & {r["fold"] for r in rows if r["model"] == "B"}
    if not common:
        raise SystemExit(f"no fold finished in both {a} and {b}")
    rows = [r for r in rows if r["fold"] in common]
    lines = [f"A = {a}", f"B = {b}", f"folds {sorted(common)}", "",
             "| run | " + " | ".join(COLS) + " |", "|---|" + "---:|" * len(COLS)]
    for label in ("A", "B"):
        stats = mean_std([r for r in rows if r["model"] == label])
        lines.append(f"| {label} | " + " | ".join(fmt(stats, c, len(common)) for c in COLS) + " |")
    return "\n".join(lines) + "\n\n" + paired_table(rows, "A", ["B"], cols=COLS)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--k", type=int, default=5)
    args = p.parse_args(argv)
    print(compare(args.a, args.b, args.k))


if __name__ == "__main__":
    main()
