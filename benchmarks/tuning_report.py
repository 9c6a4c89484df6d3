"""Print `hetrec tune` studies as the Markdown tables of docs/tuning.md and docs/baselines.md.

    python benchmarks/tuning_report.py benchmarks/results/tuning/lastfm/lightgcn      # every trial
    python benchmarks/tuning_report.py --summary benchmarks/results/tuning/lastfm/*   # one row a study

Reads each study folder's `trials.csv` and `best.json` (what `hetrec tune` writes after every
trial); it never opens the SQLite study, so a study that is running can be reported. The trial
table lists every setting the model's space searched, the state (complete / pruned / failed), the
validation NDCG@10, the best epoch and the seconds of each trial; the best complete trial is in
bold. The summary names, per study, the finished trials against the budget, the best validation
value, the best trial's settings and the seconds all trials took (the tuning cost of Table 3).
A folder without `trials.csv`, or a `trials.csv` without the columns `hetrec tune` writes, ends in
one line on stderr and exit status 1.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

FIXED = ("number", "state", "value", "seconds", "best_epoch", "note")


class ReportError(Exception):
    pass


def _num(text: str):
    if text in ("", None):
        return None
    try:
        v = float(text)
    except ValueError:
        return text
    return int(v) if v.is_integer() and "." not in text and "e" not in text.lower() else v


def fmt(v) -> str:
    """Two significant digits for settings (as docs/baselines.md prints them), integers as they are."""
    if v is None:
        return "–"
    if isinstance(v, int) or isinstance(v, str):
        return str(v)
    if v == 0 or not math.isfinite(v):
        return str(v)
    return f"{v:.2g}" if abs(v) < 1e-3 else f"{float(f'{v:.2g}'):g}"


def read_study(folder) -> dict:
    folder = Path(folder)
    path = folder / "trials.csv"
    if not path.is_file():
        raise ReportError(f"{folder}: no trials.csv (not a `hetrec tune` study folder)")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in FIXED if c not in (reader.fieldnames or [])]
        if missing:
            raise ReportError(f"{path}: missing column(s) {', '.join(missing)}")
        settings = [c for c in reader.fieldnames if c not in FIXED]
        rows = []
        for line, r in enumerate(reader, start=2):
            try:
                rows.append({k: (_num(v) if k not in ("state", "note") else v) for k, v in r.items()})
            except Exception as e:  # pragma: no cover - csv gives strings only
                raise ReportError(f"{path}, line {line}: {e}") from None
    best = None
    if (folder / "best.json").is_file():
        try:
            best = json.loads((folder / "best.json").read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ReportError(f"{folder / 'best.json'}: unreadable ({e})") from None
    return {"folder": folder, "settings": settings, "rows": rows, "best": best}


def _best_row(rows):
    done = [r for r in rows if r["state"] == "COMPLETE" and isinstance(r["value"], (int, float))]
    return max(done, key=lambda r: r["value"]) if done else None


def trial_table(study) -> str:
    settings, rows = study["settings"], study["rows"]
    best = _best_row(rows)
    names = [s.removeprefix("train.") for s in settings]
    out = ["| trial | state | " + " | ".join(names) + " | val NDCG@10 | best epoch | s |",
           "|---:|---|" + "---:|" * len(names) + "---:|---:|---:|"]
    for r in rows:
        b = r is best
        value = "–" if r["state"] != "COMPLETE" or r["value"] is None else f"{r['value']:.4f}"
        cells = [f"**{r['number']}**" if b else str(r["number"]), r["state"].lower()]
        cells += [fmt(r[s]) for s in settings]
        cells += [f"**{value}**" if b else value,
                  "–" if r["state"] != "COMPLETE" else fmt(r["best_epoch"]),
                  f"{r['seconds']:.0f}" if isinstance(r["seconds"], (int, float)) else "–"]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def summary_row(study) -> list:
    rows, best = study["rows"], study["best"] or {}
    top = _best_row(rows)
    finished = sum(r["state"] in ("COMPLETE", "PRUNED") for r in rows)
    seconds = sum(r["seconds"] for r in rows if isinstance(r["seconds"], (int, float)))
    settings = ", ".join(f"{s.removeprefix('train.')} {fmt(top[s])}" for s in study["settings"]) if top else "–"
    return [best.get("dataset", study["folder"].parent.name), best.get("model", study["folder"].name),
            f"{finished}/{best.get('budget', '?')}", "–" if top is None else f"{top['value']:.4f}",
            "–" if top is None else str(top["number"]), settings, f"{seconds:.0f}"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+", help="study folders (the --out of hetrec tune)")
    ap.add_argument("--summary", action="store_true", help="one row per study instead of every trial")
    args = ap.parse_args(argv)
    try:
        studies = [read_study(f) for f in args.folders if not args.summary or (Path(f) / "trials.csv").is_file()]
        if args.summary:
            if not studies:
                raise ReportError("no study folder among the arguments")
            print("| dataset | model | finished / budget | best val NDCG@10 | best trial | its settings | trial s |")
            print("|---|---|---:|---:|---:|---|---:|")
            for s in studies:
                print("| " + " | ".join(summary_row(s)) + " |")
        else:
            for s in studies:
                if len(studies) > 1:
                    print(f"\n{s['folder']}\n")
                print(trial_table(s))
    except ReportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
