"""Per-step cost of LRLabScheduler vs torch's own CosineAnnealingLR (target: adapter <= 1.1x).

    python bench/bench_torch_adapter.py [--steps 200000] [--repeats 5]
"""

import argparse
import time
import warnings

import torch

import lrlab
from lrlab.integrations.torch import LRLabScheduler

warnings.filterwarnings("ignore", message="Detected call of")  # no optimizer.step() here


def optimizer():
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(4))], lr=0.1, momentum=0.9)


def native(n):
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer(), T_max=n)


def adapter(n):
    return LRLabScheduler(optimizer(), lrlab.create("cosine", base_lr=0.1, total_steps=n))


def per_step_us(make, n):
    sched = make(n)
    step = sched.step
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    n = args.steps
    # same values, so both do the same work
    a, b = native(50), adapter(50)
    for _ in range(49):
        a.step(), b.step()
    assert abs(a.get_last_lr()[0] - b.get_last_lr()[0]) < 1e-12

    nat, ada = [], []
    for r in range(args.repeats):  # interleaved, so drift hits both alike
        order = [(native, nat), (adapter, ada)] if r % 2 == 0 else [(adapter, ada), (native, nat)]
        for make, out in order:
            out.append(per_step_us(make, n))
    print(f"torch {torch.__version__}, {n:,} scheduler.step() calls x {args.repeats} repeats (interleaved)")
    print(f"native CosineAnnealingLR : best {min(nat):.3f} us/step, median {sorted(nat)[len(nat) // 2]:.3f}")
    print(f"LRLabScheduler(cosine)   : best {min(ada):.3f} us/step, median {sorted(ada)[len(ada) // 2]:.3f}")
    print(f"ratio adapter/native     : best {min(ada) / min(nat):.3f}x, "
          f"median {sorted(ada)[len(ada) // 2] / sorted(nat)[len(nat) // 2]:.3f}x  (target <= 1.1x)")


if __name__ == "__main__":
    main()
