"""Sparse products on one CPU thread: DGL's kernels against the CSR products hetrec uses.

Times, forward and backward together (median of ``--repeats`` after one warm-up), on a random
edge list of ``--edges`` edges between ``--nodes`` source and target nodes, ``--dim`` features:

* the weighted sum ``out[t] = Σ_e w_e x[src_e]`` (a mini-batch MTHGT layer,
  ``hetrec.nn.sparse.edge_sum``) against DGL's ``u_mul_e_sum`` (an edge weight) and DGL's
  unweighted ``copy_u_sum`` (the floor);
* ``hetrec.nn.losses.dot_scores`` (``(B, k)`` query-row inner products, DGL's SDDMM forward and
  CSR products backward) against DGL's ``u_dot_v`` with DGL's own backward;
* a constant operator ``A @ X`` as LightGCN propagates: ``torch.sparse.mm`` on COO (which
  differentiates ``A`` too and re-coalesces it) against ``hetrec.nn.sparse.spmm`` on CSR.

    python benchmarks/spmm_ops.py --threads 1
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("DGLBACKEND", "pytorch")

import dgl  # noqa: E402
import torch  # noqa: E402
from _common import machine  # noqa: E402

from hetrec.nn.losses import dot_scores  # noqa: E402
from hetrec.nn.sparse import coo_to_csr, edge_sum, spmm  # noqa: E402


def timed(fn, repeats: int) -> float:
    """Median milliseconds of ``fn()`` over ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=20_000)
    p.add_argument("--edges", type=int, default=400_000)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--queries", type=int, default=8_192, help="dot_scores: queries (B)")
    p.add_argument("--negatives", type=int, default=64, help="dot_scores: rows per query (k)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the timings to this JSON file")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    n, e, d = args.nodes, args.edges, args.dim
    src = torch.randint(0, n, (e,), generator=gen)
    dst = torch.randint(0, n, (e,), generator=gen)
    w = torch.rand(e, generator=gen)
    x = torch.randn(n, d, generator=gen, requires_grad=True)
    block = dgl.create_block((src, dst), num_src_nodes=n, num_dst_nodes=n)

    def run(f):
        def go():
            x.grad = None
            f().sum().backward()
        return timed(go, args.repeats)

    rows = {
        "weighted sum: DGL u_mul_e_sum": run(lambda: dgl.ops.u_mul_e_sum(block, x, w.unsqueeze(1))),
        "weighted sum: hetrec edge_sum (CSR)": run(lambda: edge_sum(x, dst, src, w, n)),
        "unweighted sum: DGL copy_u_sum (floor)": run(lambda: dgl.ops.copy_u_sum(block, x)),
    }
    b, k = args.queries, args.negatives
    q = torch.randn(b, d, generator=gen, requires_grad=True)
    table = torch.randn(n, d, generator=gen, requires_grad=True)
    index = torch.randint(0, n, (b, k), generator=gen)
    qsrc = torch.arange(b).repeat_interleave(k)
    qblock = dgl.create_block((qsrc, index.reshape(-1)), num_src_nodes=b, num_dst_nodes=n)

    def run2(f):
        def go():
            q.grad, table.grad = None, None
            f().sum().backward()
        return timed(go, args.repeats)

    rows["dot scores (B, k): DGL u_dot_v, DGL backward"] = run2(lambda: dgl.ops.u_dot_v(qblock, q, table))
    rows["dot scores (B, k): hetrec dot_scores"] = run2(lambda: dot_scores(q, table, index))
    coo = torch.sparse_coo_tensor(torch.stack([dst, src]), w, (n, n)).coalesce()
    csr, csr_t = coo_to_csr(dst, src, w, (n, n)), coo_to_csr(src, dst, w, (n, n))
    rows["constant operator: torch.sparse.mm (COO)"] = run(lambda: torch.sparse.mm(coo, x))
    rows["constant operator: hetrec spmm (CSR)"] = run(lambda: spmm(csr, x, csr_t))
    # the same numbers from both sides of each pair
    torch.testing.assert_close(edge_sum(x, dst, src, w, n), dgl.ops.u_mul_e_sum(block, x, w.unsqueeze(1)),
                               atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(dot_scores(q, table, index).reshape(-1), dgl.ops.u_dot_v(qblock, q, table).reshape(-1),
                               atol=1e-4, rtol=1e-4)
    print(f"{machine()}; {n:,} nodes, {e:,} edges, {d} features; dot scores {b:,} x {k}; "
          f"median of {args.repeats}, forward + backward")
    print("| operation | ms |\n|---|---:|")
    for name, ms in rows.items():
        print(f"| {name} | {ms:.1f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "args": vars(args), "ms": rows}, f, indent=1)


if __name__ == "__main__":
    main()
