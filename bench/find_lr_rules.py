"""Benchmark: which LR range-test rule suggests a learning rate that trains well?

For each built-in kind of task (the embedded digits, and CSV tables written from
scikit-learn's embedded wine and breast-cancer sets), per seed: run ``find_lr`` (the CLI's
defaults: 1e-7..10, 100 steps, batch 64, momentum SGD), read every candidate rule off the
curve, then train the default model (momentum SGD 0.9, cosine, batch 64, 20 epochs, same seed)
with each suggestion and with each LR of a coarse grid. Prints, per task, rule -> suggested
LRs -> mean test accuracy and its gap to the grid's best mean; then which rules are within one
point of the grid's best on every task (the goal of ``suggested_lr``).

Rules (all on the smoothed loss, inside ``lr_finder.suggestion_window``):

- ``valley``: lrlab's former suggestion (halfway along the longest decreasing subsequence);
  ``valley/fastai``: fastai's own index ``start + int(L/3) + int(L/6)``;
- ``steepest``: most negative d loss / d log lr before the minimum (torch-lr-finder, Lightning);
- ``minimum``: the LR of the lowest smoothed loss; ``minimum/10``: fastai's "minimum" rule;
- ``slide``: fastai's interval slide rule (lr_diff=15, thresh=0.005);
- ``median3``: median of minimum/10, valley and steepest (a "combined" rule seen in the wild);
- ``steep.min``: 10**((log10 steepest + 2 log10 minimum) / 3) (also seen in the wild);
- ``lrlab``: whatever ``LRFinderResult.suggested_lr`` is today.

Run: python bench/find_lr_rules.py [--seeds 3] [--epochs 20] [--tasks digits,wine,cancer]
(about 3-5 minutes on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GRID = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
RULES = ("lrlab", "valley", "valley/fastai", "steepest", "minimum", "minimum/10", "slide",
         "median3", "steep.min")


# ---- candidate rules -----------------------------------------------------------------------
def fastai_valley_index(y: np.ndarray) -> int:
    """fastai's ``valley``: longest decreasing subsequence, index start + L/3 + L/6."""
    n = len(y)
    lds = [1] * n
    max_start = max_end = 0
    for i in range(1, n):
        for j in range(i):
            if y[i] < y[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return max_start + int(sections) + int(sections / 2)


def slide(lrs: np.ndarray, y: np.ndarray, lr_diff: int = 15, thresh: float = 0.005) -> float | None:
    """fastai's ``slide``: walk left from the end while the gradients ``lr_diff`` apart differ."""
    if len(y) <= lr_diff:
        return None
    g = np.gradient(y)
    r, left = -1, -1 - lr_diff
    found = lrs[left]
    while left >= -len(y) and abs(g[r] - g[left]) > thresh:
        found = lrs[left]
        r, left = r - 1, left - 1
    return float(found)


def candidates(result, num_steps: int) -> dict[str, float | None]:
    from lrlab.training.lr_finder import suggestion_window

    lrs, y = np.asarray(result.lrs), np.asarray(result.smoothed)
    bad = np.flatnonzero(~np.isfinite(y))
    n = int(bad[0]) if len(bad) else len(y)
    lo, hi = suggestion_window(n, num_steps)
    wl, wy = lrs[lo:hi], y[lo:hi]
    low = int(np.argmin(wy))
    minimum = float(wl[low])
    out = {"lrlab": result.suggested_lr, "valley": result.valley, "steepest": result.steepest,
           "valley/fastai": float(wl[fastai_valley_index(wy)]), "minimum": minimum,
           "minimum/10": minimum / 10, "slide": slide(wl, wy)}
    three = [v for v in (minimum / 10, result.valley, result.steepest) if v is not None]
    out["median3"] = float(np.median(three)) if three else None
    s = result.steepest
    out["steep.min"] = (float(10 ** ((math.log10(s) + 2 * math.log10(minimum)) / 3))
                        if s is not None else None)
    return out


# ---- tasks ---------------------------------------------------------------------------------
def write_csv(folder: Path, name: str) -> Path:
    from sklearn import datasets

    data = {"wine": datasets.load_wine, "cancer": datasets.load_breast_cancer}[name]()
    path = folder / f"{name}.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"f{i}" for i in range(data.data.shape[1])] + ["label"])
        for row, label in zip(data.data, data.target):
            w.writerow([repr(float(v)) for v in row] + [int(label)])
    return path


def load(name: str, folder: Path):
    from lrlab.training.tasks import load_task

    return load_task("digits") if name == "digits" else load_task(f"csv:{write_csv(folder, name)}")


# ---- measuring -----------------------------------------------------------------------------
def test_acc(task, lr: float, seed: int, epochs: int, cache: dict) -> float:
    from lrlab.training.engines import train_trial
    from lrlab.training.trial import TrialConfig

    key = (float(f"{lr:.6g}"), seed)
    if key not in cache:
        rec = train_trial(task, TrialConfig(schedule="cosine", lr=key[0], epochs=epochs, seed=seed))
        cache[key] = rec.test_acc if rec.test_acc is not None else 0.0
    return cache[key]


def measure(name: str, task, seeds: list[int], epochs: int, num_steps: int = 100) -> dict:
    from lrlab.training.lr_finder import find_lr

    cache: dict = {}
    grid = {lr: float(np.mean([test_acc(task, lr, s, epochs, cache) for s in seeds])) for lr in GRID}
    rules: dict[str, tuple[list, float | None]] = {}
    suggested = {s: candidates(find_lr(task, num_steps=num_steps, seed=s), num_steps) for s in seeds}
    for rule in RULES:
        lrs = [suggested[s][rule] for s in seeds]
        accs = [test_acc(task, lr, s, epochs, cache) if lr is not None else 0.0
                for lr, s in zip(lrs, seeds)]
        rules[rule] = (lrs, float(np.mean(accs)))
    return {"grid": grid, "rules": rules, "trials": len(cache)}


def fmt_lr(x) -> str:
    return "   none " if x is None else f"{x:8.2g}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--tasks", default="digits,wine,cancer")
    args = ap.parse_args(argv)
    seeds = list(range(args.seeds))
    names = args.tasks.split(",")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            t0 = time.perf_counter()
            task = load(name, Path(tmp))
            results[name] = r = measure(name, task, seeds, args.epochs)
            best_lr = max(r["grid"], key=r["grid"].get)
            best = r["grid"][best_lr]
            print(f"\n== {name}: {len(task.train)} train / {len(task.test)} test rows, "
                  f"seeds {seeds}, {args.epochs} epochs, cosine, momentum SGD, batch 64 "
                  f"({r['trials']} trainings, {time.perf_counter() - t0:.0f} s)")
            print("grid   " + "  ".join(f"{lr:>6g}" for lr in GRID))
            print("acc    " + "  ".join(f"{r['grid'][lr]:6.3f}" for lr in GRID)
                  + f"   best {best:.3f} at {best_lr:g}")
            print(f"{'rule':<14}  {'suggested lr per seed':<30}  {'test acc':>8}  {'vs best':>8}")
            for rule, (lrs, acc) in r["rules"].items():
                print(f"{rule:<14}  {' '.join(fmt_lr(x) for x in lrs):<30}  {acc:8.3f}  "
                      f"{100 * (acc - best):+7.1f}pt")
    print("\nwithin 1 point of the grid's best mean on every task:")
    for rule in RULES:
        gaps = {n: 100 * (results[n]["rules"][rule][1] - max(results[n]["grid"].values()))
                for n in names}
        ok = all(g >= -1.0 for g in gaps.values())
        print(f"  {rule:<14} {'yes' if ok else 'no ':<3}  worst gap {min(gaps.values()):+.1f}pt  "
              + "  ".join(f"{n} {g:+.1f}" for n, g in gaps.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
