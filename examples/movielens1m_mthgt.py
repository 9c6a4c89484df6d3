"""MTHGT on MovieLens-1M, end to end, with the library API (no CLI).

    python examples/movielens1m_mthgt.py --data-dir /path/to/data          # needs the real ml-1m files
    python examples/movielens1m_mthgt.py --data-dir ../shared/data/ml-1m-partial --no-verify --quick

The graph has users, movies and the attribute node types gender, age, occupation and genre.
With ``--no-verify`` unverified files load with a warning: numbers from the partial development
copy of ratings.dat (56 % of the ratings) are NOT MovieLens-1M results and must not be reported
as such.
"""
import argparse
import os
import sys

os.environ.setdefault("DGLBACKEND", "pytorch")

from hetrec.data import DataError, MovieLens1M, kfold_split  # noqa: E402
from hetrec.eval import format_metrics_table  # noqa: E402
from hetrec.models import create_model, training_settings  # noqa: E402
from hetrec.train import TrainConfig, Trainer, TrainingError  # noqa: E402
from hetrec.train.experiment import recommend  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None, help="folder holding ml-1m/ or the files themselves")
    p.add_argument("--no-verify", action="store_true", help="load files that fail checksum verification")
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=None, help="most epochs (default: MTHGT's recommended setting)")
    p.add_argument("--out", default="runs/example-ml1m-mthgt")
    p.add_argument("--quick", action="store_true", help="1 epoch of 2 batches: checks the pipeline only")
    args = p.parse_args(argv)

    dataset = MovieLens1M(root=args.data_dir, verify=not args.no_verify)
    g = dataset.graph
    label = "MovieLens-1M" if dataset.verified else "UNVERIFIED MovieLens files (not a MovieLens-1M result)"
    print(f"{label}: {g.num_nodes('user'):,} users, {g.num_nodes('item'):,} movies, "
          f"{g.num_edges('interacts'):,} ratings; attribute types {sorted(set(g.ntypes) - {'user', 'item'})}")

    split = kfold_split(g, k=5, seed=args.seed)[args.fold]
    model = create_model("mthgt")  # hetrec's recipe (docs/mthgt.md); create_model("mthgt-paper"): the paper's
    settings = training_settings("mthgt")  # lr 1e-2, up to 200 epochs, patience 10
    if args.epochs or args.quick:
        settings["epochs"] = 1 if args.quick else args.epochs
    config = TrainConfig(**settings, seed=args.seed, max_batches=2 if args.quick else None)
    result = Trainer(config, out_dir=args.out).fit(model, split)

    print(f"\n{label}, fold {args.fold}, best epoch {result.best_epoch}:")
    print(format_metrics_table({"MTHGT": result.test}))

    user = int(g.nodes["user"].data["raw_id"][0])
    print(f"\ntop 10 movies for user {user}:")
    for rank, raw_id, title, score in recommend(model, dataset, user, k=10):
        print(f"{rank:3d}. {title} (movie {raw_id}, score {score:.3f})")
    return result


if __name__ == "__main__":
    try:
        main()
    except (DataError, TrainingError) as err:  # bad files or an unusable run: one line, no traceback
        sys.exit(f"error: {err}")
