"""Benchmark: how often does pruning throw away the configuration that is best at full length?

Median pruning compares trials partway through one run (Optuna's ``MedianPruner``, Ray's ASHA
and Hyperband do the same): a schedule that decays late (WSD, linear to zero) looks worst right
before its cooldown. ``lrlab tune``'s budget rungs compare complete shorter runs instead, the
schedule bound to each rung's length. This script measures both on digits, on a grid of
schedules whose value comes late (wsd, linear) and early (step, cosine) at several peak LRs:

- every configuration is trained completely at each rung's budget (``--epochs`` and its
  1/3, 1/9: 20, 7, 2 by default) on each of ``--seeds`` seeds;
- the truth, per seed: the configuration with the best validation accuracy at full length;
- median pruning: the full-length runs' validation curves replayed, per seed, in
  ``--orders`` random orders, through ``optuna.pruners.MedianPruner`` (5 startup trials, 1
  warmup epoch, the median of the earlier trials at the same epoch): a miss is the truth pruned;
- budget rungs: successive halving over the complete shorter runs (the best third goes on,
  ``lrlab tune``'s default, or the best half, which trains about as many epochs as median
  pruning): a miss is the truth not reaching the last rung;

and prints, for each, the miss rate, the mean regret (full-length validation accuracy of the
truth minus that of the best configuration that survived) and the epochs each spent.

    python bench/pruning.py [--epochs 20] [--seeds 8] [--orders 50]

About 7 minutes on 2 cores with the defaults.
"""

from __future__ import annotations

import argparse
import random
import time

SCHEDULES = ["wsd", "linear", "cosine", "step"]
LRS = [0.01, 0.03, 0.1, 0.3]


def train(epochs: int, seeds: list[int]) -> dict[tuple[str, float, int], list[float]]:
    """Every configuration's validation accuracy per epoch, trained for ``epochs``:
    ``{(schedule, lr, seed): [val_acc per epoch]}``."""
    from lrlab.training.engines import train_population
    from lrlab.training.tasks import load_task
    from lrlab.training.trial import TrialConfig

    task = load_task("digits")
    cfgs = [TrialConfig(schedule=s, lr=lr, epochs=epochs, seed=seed, interval="step")
            for s in SCHEDULES for lr in LRS for seed in seeds]
    recs = train_population(task, cfgs, None)
    return {(c.schedule, c.lr, c.seed): [e["val_acc"] if e["val_acc"] is not None else 0.0
                                         for e in r.epochs] + [0.0] * (epochs - len(r.epochs))
            for c, r in zip(cfgs, recs)}


def median_pruning(curves: dict, configs: list, rng: random.Random) -> tuple[set, int]:
    """The configurations that survive ``MedianPruner`` in one random order, and the epochs
    trained."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(
        n_startup_trials=5, n_warmup_steps=1))
    order = configs[:]
    rng.shuffle(order)
    alive, spent = set(), 0
    for c in order:
        trial = study.ask()
        pruned = False
        for epoch, value in enumerate(curves[c]):
            trial.report(value, epoch)
            spent += 1
            if trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                pruned = True
                break
        if not pruned:
            study.tell(trial, curves[c][-1])
            alive.add(c)
    return alive, spent


def rungs(runs: list[dict], configs: list, budgets: list[int], eta: int) -> tuple[set, int]:
    """The configurations that reach the last rung of successive halving over complete runs
    (``runs[r][c]``: the final validation accuracy of ``c`` trained ``budgets[r]`` epochs;
    the best ``1/eta`` go on), and the epochs trained."""
    alive, spent = list(configs), 0
    for r, b in enumerate(budgets):
        spent += b * len(alive)
        if r < len(budgets) - 1:
            alive = sorted(alive, key=lambda c: -runs[r][c])[:max(1, len(alive) // eta)]
    return set(alive), spent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--orders", type=int, default=50)
    opts = ap.parse_args()
    budgets = [max(1, round(opts.epochs / 9)), max(1, round(opts.epochs / 3)), opts.epochs]
    seeds = list(range(opts.seeds))
    t = time.perf_counter()
    curves = {b: train(b, seeds) for b in budgets}
    print(f"{len(SCHEDULES) * len(LRS)} configurations ({', '.join(SCHEDULES)} x LR "
          f"{', '.join(map(str, LRS))}) x {len(seeds)} seeds, trained at {budgets} epochs on "
          f"digits in {time.perf_counter() - t:.0f} s")
    rng = random.Random(0)
    results = {"median pruning (partial runs)": [], "budget rungs, eta 3 (complete runs)": [],
               "budget rungs, eta 2 (complete runs)": []}
    truths = []
    for seed in seeds:
        configs = [(s, lr) for s in SCHEDULES for lr in LRS]
        full = {c: curves[opts.epochs][(*c, seed)] for c in configs}
        truth = max(configs, key=lambda c: full[c][-1])
        truths.append(truth)
        best = full[truth][-1]
        for _ in range(opts.orders):
            alive, spent = median_pruning(full, configs, rng)
            kept = max((full[c][-1] for c in alive), default=0.0)
            results["median pruning (partial runs)"].append((truth not in alive, best - kept, spent))
        runs = [{c: curves[b][(*c, seed)][-1] for c in configs} for b in budgets]
        for eta in (3, 2):
            alive, spent = rungs(runs, configs, budgets, eta)
            kept = max(full[c][-1] for c in alive)
            results[f"budget rungs, eta {eta} (complete runs)"].append(
                (truth not in alive, best - kept, spent))
    print(f"best at {opts.epochs} epochs, per seed: "
          + ", ".join(f"{s} lr {lr}" for s, lr in truths))
    for name, rows in results.items():
        n = len(rows)
        miss = sum(r[0] for r in rows)
        print(f"  {name:<36} best discarded {miss}/{n} = {100 * miss / n:5.1f} %   "
              f"mean regret {100 * sum(r[1] for r in rows) / n:.2f} points   "
              f"epochs {sum(r[2] for r in rows) / n:.0f} per search "
              f"(full grid: {len(SCHEDULES) * len(LRS) * opts.epochs})")


if __name__ == "__main__":
    main()
