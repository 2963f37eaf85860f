"""Benchmark: how often the verdict of ``lrlab compare`` is wrong, on simulated experiments with
a known truth; the procedure of ``lrlab.stats.rank`` beside the rule it replaced.

An experiment: 15 schedules x ``n`` seeds, paired by seed (every schedule of a seed shares a
seed effect, sd 0.5 points), each trial with its own noise (sd 0.3 points unless said), test
accuracy rounded to a count of ``N`` test images. Two worlds:

- *null*: every schedule is exactly as good; a verdict that calls any of them "not tied"
  with the best is a false flag (the family-wise rate, the choice of the best included);
- *gap*: one schedule is truly 1 point worse than the other 14 (equal among themselves);
  power is how often it is called "not tied".

Settings: digits-like (N = 360, base accuracy 0.98) and insect-like (N = 1763, base 0.93, two
"unstable" schedules with 3x the noise: their noise differs, so the pooled estimate is
checked against unequal noise), at 3 and 5 seeds; and, for the false-flag rate alone, per-
trial noise from 0.1 to 1 point. Rules:

- ``tukey``: ``stats.rank`` (two-way fit, pooled noise floored at the quantisation, the larger
  of pooled and pair sd, Tukey's studentised range against the best);
- ``holm``: the rule before it (a paired t-test of each schedule against the observed best,
  Holm-corrected).

    python bench/verdict.py [--experiments 1000] [--seed 0]

Prints one line per setting: the false-flag rate and the power of each rule, side by side,
with the Monte-Carlo standard error of a rate near 0.05 (``sqrt(p (1-p) / experiments)``).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy import stats as sps

from lrlab.stats import rank

SCHEDULES = 15
SEED_SD = 0.005


def simulate(rng, n_seeds, n_test, base, noise, gap=0.0, unstable=0):
    """One experiment: {schedule: {seed: accuracy}}; schedule ``s14`` is ``gap`` worse, the
    first ``unstable`` schedules have 3x the noise."""
    seed_effect = rng.normal(0.0, SEED_SD, n_seeds)
    out = {}
    for i in range(SCHEDULES):
        mean = base - (gap if i == SCHEDULES - 1 else 0.0)
        sd = noise * (3.0 if i < unstable else 1.0)
        acc = mean + seed_effect + rng.normal(0.0, sd, n_seeds)
        out[f"s{i}"] = {j: float(np.clip(np.round(a * n_test), 0, n_test) / n_test)
                        for j, a in enumerate(acc)}
    return out


def tukey(test_acc, n_test):
    """Not tied with the best: {schedule: True} (lrlab's procedure)."""
    return {r["name"]: not r["tied_with_best"] for r in rank(test_acc, n_test=n_test)}


def holm(test_acc, n_test, alpha=0.05):
    """The rule before: paired t against the observed best, Holm over the family."""
    names = list(test_acc)
    x = np.array([[test_acc[n][j] for j in sorted(test_acc[n])] for n in names])
    best = int(np.argmax(x.mean(axis=1)))
    p = {}
    for i, n in enumerate(names):
        if i == best:
            continue
        d = x[i] - x[best]
        sd = d.std(ddof=1)
        if sd == 0:
            p[n] = 0.0 if d.mean() != 0 else 1.0
        else:
            t = d.mean() / (sd / math.sqrt(len(d)))
            p[n] = float(2 * sps.t.sf(abs(t), len(d) - 1))
    order = sorted(p, key=p.get)
    flagged, m = {}, len(order)
    running = 0.0
    for k, n in enumerate(order):
        running = max(running, min(1.0, (m - k) * p[n]))
        flagged[n] = running <= alpha
    return flagged


def rates(rule, experiments, rng, **world):
    false = power = 0
    for _ in range(experiments):
        null = rule(simulate(rng, **world), world["n_test"])
        false += any(null.values())
        world_gap = dict(world, gap=0.01)
        power += rule(simulate(rng, **world_gap), world["n_test"]).get(f"s{SCHEDULES - 1}", False)
    return false / experiments, power / experiments


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    n = args.experiments
    se = math.sqrt(0.05 * 0.95 / n)
    print(f"{n} simulated experiments per setting and rule ({SCHEDULES} schedules; Monte-Carlo "
          f"standard error of a rate near 0.05: {se:.3f})")
    print(f"{'setting':<44} {'false flags':>22} {'power, 1-point gap':>24}")
    print(f"{'':<44} {'tukey':>10} {'holm':>11} {'tukey':>12} {'holm':>11}")
    settings = [(f"digits-like N=360, {s} seeds", dict(n_seeds=s, n_test=360, base=0.98, noise=0.003))
                for s in (3, 5)]
    settings += [(f"insect-like N=1763, {s} seeds, 2 unstable",
                  dict(n_seeds=s, n_test=1763, base=0.93, noise=0.003, unstable=2)) for s in (3, 5)]
    settings += [(f"insect-like N=1763, {s} seeds, equal noise",
                  dict(n_seeds=s, n_test=1763, base=0.93, noise=0.003)) for s in (3, 5)]
    settings += [(f"digits-like N=360, 3 seeds, noise {sd} pts",
                  dict(n_seeds=3, n_test=360, base=0.98 - 2 * sd / 100, noise=sd / 100))
                 for sd in (0.1, 1.0)]
    t0 = time.perf_counter()
    for label, world in settings:
        new = rates(tukey, n, np.random.default_rng(args.seed), **world)
        old = rates(holm, n, np.random.default_rng(args.seed), **world)
        print(f"{label:<44} {new[0]:>10.3f} {old[0]:>11.3f} {new[1]:>12.3f} {old[1]:>11.3f}",
              flush=True)
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
