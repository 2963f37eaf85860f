"""Warmup+cosine over 1M steps: lrlab's vectorised curve() vs stepping torch's scheduler.

    python bench/bench_curve.py [--steps 1000000] [--native-steps N]

The torch equivalent is SequentialLR(LinearLR warmup, CosineAnnealingLR). If stepping it the
full length would take over 60 s, fewer steps are timed and the cost is extrapolated
linearly (said so in the output). Target: curve() >= 100x faster.
"""

import argparse
import time
import warnings

import numpy as np
import torch

import lrlab

warnings.filterwarnings("ignore", message="Detected call of")  # no optimizer.step() here


def lrlab_curve(n, warm, lr):
    s = lrlab.create("warmup", schedule=lrlab.create("cosine", base_lr=lr, total_steps=n - warm),
                     warmup_steps=warm)
    return s.curve(n)


def torch_sequence(n, warm, lr, steps):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    S = torch.optim.lr_scheduler
    # lrlab's linear warmup is lr * (k + 1) / (warm + 1) for k < warm, then cosine(k - warm)
    ramp = S.LinearLR(opt, start_factor=1 / (warm + 1), end_factor=warm / (warm + 1), total_iters=warm - 1)
    sched = S.SequentialLR(opt, [ramp, S.CosineAnnealingLR(opt, T_max=n - warm)], milestones=[warm])
    out = np.empty(steps)
    group = opt.param_groups[0]
    for k in range(steps):
        out[k] = group["lr"]
        sched.step()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--native-steps", type=int, default=None, help="torch steps to time (default: all, "
                    "or fewer when the full run would exceed 60 s)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    n, warm, lr = args.steps, args.steps // 100, 0.1

    lrlab_curve(1000, 10, lr)  # warm imports
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        curve = lrlab_curve(n, warm, lr)
        times.append(time.perf_counter() - t0)
    t_lrlab = min(times)

    torch_sequence(n, warm, lr, 1000)  # first use of torch.optim pays one-off import costs
    probe = min(n, 20_000)
    t0 = time.perf_counter()
    torch_sequence(n, warm, lr, probe)
    est = (time.perf_counter() - t0) * n / probe
    m = args.native_steps or (n if est <= 60 else max(probe, int(n * 60 / est / 2)))
    m = min(m, n)
    t0 = time.perf_counter()
    seq = torch_sequence(n, warm, lr, m)
    t_torch = (time.perf_counter() - t0) * n / m
    err = float(np.max(np.abs(seq - curve[:m]) / np.maximum(curve[:m], 1e-12)))

    print(f"torch {torch.__version__}; warmup({warm:,} steps) + cosine, {n:,} steps")
    print(f"lrlab curve({n:,})               : {t_lrlab * 1e3:.1f} ms (best of {args.repeats})")
    note = "" if m == n else f" (timed {m:,} steps, extrapolated linearly to {n:,})"
    print(f"torch SequentialLR x {n:,} steps : {t_torch * 1e3:.1f} ms{note}")
    print(f"speedup lrlab/torch              : {t_torch / t_lrlab:.0f}x  (target >= 100x)")
    print(f"max relative difference over the {m:,} compared steps: {err:.2e}")


if __name__ == "__main__":
    main()
