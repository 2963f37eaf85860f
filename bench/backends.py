"""Benchmark: lrlab's backends against the plain PyTorch a user would write, side by side.

The main command's experiment (the ``paddle`` preset: 15 schedules x 3 seeds on digits, the
default CNN, batch 64, momentum SGD; 20 epochs, ``--epochs N`` to change) run, each in its own
process on this machine:

- references: a plain PyTorch loop, trials one after another in one process; the same loop in
  two single-thread processes side by side (half the trials each); one process per trial, one
  after another, as the source experiment did (left out with ``--quick``);
- lrlab: the store with the local backend in 2 worker processes (the default on 2 cores) and in
  one process; the same two with a sink that keeps nothing (``RecordSink``: the store's cost);
  the sequential engine in one process (its overhead over the plain loop); the Ray backend on a
  local 2-CPU Ray (Ray's overhead on one machine; skipped without ``ray``); the main command
  itself through the CLI (startup and report included).

Prints each wall time, trials x epochs per second, and the ratios: lrlab's main command to each
reference, the store to the null sink, Ray to local, 2 workers to 1, the sequential engine to
the plain loop.

    python bench/backends.py [--quick] [--epochs N]

``--quick``: 3 epochs and no process-per-trial reference: about 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CONFIG = {"preset": "paddle", "seeds": 3}


def trials(epochs: int):
    from lrlab.experiments.spec import experiment

    return list(experiment({**CONFIG, "epochs": epochs}).trials)


def plain(epochs: int, part: str, threads: int | None) -> None:
    """The plain PyTorch loop over the trials ``part`` (``all``, ``even``/``odd`` indices, or
    one index): lrlab's task, model, batch order, optimizer and LR table, nothing recorded."""
    import torch
    import torch.nn.functional as F

    from lrlab.training.evaluate import batches
    from lrlab.training.optim import make_optimizer
    from lrlab.training.plan import make_plan
    from lrlab.training.tasks import load_task

    if threads:
        torch.set_num_threads(threads)
    task = load_task("digits")
    cfgs = trials(epochs)
    chosen = {"all": cfgs, "even": cfgs[0::2], "odd": cfgs[1::2]}.get(part) or [cfgs[int(part)]]
    (x, y), n = (task.train.x, task.train.y), len(task.train)
    for cfg in chosen:
        plan = make_plan(cfg, n)
        torch.manual_seed(cfg.seed)
        model = task.build_model()
        opt = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.weight_decay)
        policy, step = plan.policy(), 0
        for epoch in range(cfg.epochs):
            model.train()
            for idx in batches(n, cfg.batch_size, cfg.seed, epoch):
                for g in opt.param_groups:
                    g["lr"] = policy.lr(epoch, step)
                loss = F.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                step += 1
            model.eval()
            with torch.no_grad():
                out = model(task.val.x)
                val_loss = F.cross_entropy(out, task.val.y).item()
                val_acc = (out.argmax(1) == task.val.y).float().mean().item()
            policy.end_epoch({"val_loss": val_loss, "val_acc": val_acc}, epoch + 1, step)
        with torch.no_grad():
            (model(task.test.x).argmax(1) == task.test.y).float().mean().item()


def lrlab_run(epochs: int, workers: int, backend: str, engine: str, sink: str) -> None:
    """lrlab's compare of the experiment, into a store (``sink=store``) or a sink that keeps
    nothing (``null``)."""
    from lrlab.experiments.backends import Job, run_backend
    from lrlab.experiments.runner import compare
    from lrlab.training.plan import make_plan
    from lrlab.training.records import RecordSink
    from lrlab.training.tasks import load_task

    if sink == "store":
        out = tempfile.mkdtemp()
        compare("digits", preset=CONFIG["preset"], seeds=CONFIG["seeds"], epochs=epochs, out=out,
                workers=None if backend == "ray" else workers, backend=backend, engine=engine)
        return
    task = load_task("digits")
    job = Job([make_plan(c, len(task.train)) for c in trials(epochs)], task, engine)
    run_backend(job, backend, workers=None if backend == "ray" else workers)(RecordSink(), None)


def timed(argv: list[str], env: dict | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(argv, check=True, env=env)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    opts = ap.parse_args()
    if opts.child:
        kind, *rest = opts.child
        if kind == "plain":
            epochs, part, threads = rest
            plain(int(epochs), part, int(threads) or None)
        else:
            epochs, workers, backend, engine, sink = rest
            lrlab_run(int(epochs), int(workers), backend, engine, sink)
        return
    epochs = opts.epochs or (3 if opts.quick else 20)
    n = len(trials(epochs))
    me = [sys.executable, os.path.abspath(__file__), "--child"]
    print(f"{n} trials x {epochs} epochs (paddle preset, digits, default CNN) on "
          f"{len(os.sched_getaffinity(0))} CPUs, torch threads default unless said")
    walls: dict[str, float] = {}

    def show(name: str, wall: float) -> None:
        walls[name] = wall
        print(f"  {name:<44} {wall:7.1f} s  {n * epochs / wall:6.1f} trial-epochs/s", flush=True)

    show("plain loop, one process", timed([*me, "plain", str(epochs), "all", "0"]))
    t = time.perf_counter()
    halves = [subprocess.Popen([*me, "plain", str(epochs), half, "1"]) for half in ("even", "odd")]
    for p in halves:
        assert p.wait() == 0
    show("plain loop, two single-thread processes", time.perf_counter() - t)
    if not opts.quick:
        t = time.perf_counter()
        for i in range(n):
            subprocess.run([*me, "plain", str(epochs), str(i), "0"], check=True)
        show("plain loop, one process per trial", time.perf_counter() - t)
    for name, args in [("lrlab store, 2 worker processes", ("2", "local", "vectorized", "store")),
                       ("lrlab null sink, 2 worker processes", ("2", "local", "vectorized", "null")),
                       ("lrlab store, one process", ("1", "local", "vectorized", "store")),
                       ("lrlab null sink, one process", ("1", "local", "vectorized", "null")),
                       ("lrlab sequential engine, one process, null sink",
                        ("1", "local", "sequential", "null"))]:
        show(name, timed([*me, "lrlab", str(epochs), *args]))
    try:
        import ray  # noqa: F401

        show("lrlab store, Ray (local 2-CPU cluster)", timed(
            [*me, "lrlab", str(epochs), "0", "ray", "vectorized", "store"],
            env={**os.environ, "RAY_AUTH_MODE": "disabled"}))
    except ImportError:
        print("  (no ray: pip install 'lrlab[ray]' to measure the Ray backend)")
    with tempfile.TemporaryDirectory() as out:
        show("lrlab compare main command (CLI, report)", timed(
            [sys.executable, "-m", "lrlab", "compare", "--task", "digits", "--preset", "paddle", "--seeds", "3",
             "--epochs", str(epochs), "--out", os.path.join(out, "cmp"), "--quiet"],
            env={**os.environ}))
    main_wall = walls["lrlab compare main command (CLI, report)"]
    print("ratios:")
    for ref in ("plain loop, one process", "plain loop, two single-thread processes",
                "plain loop, one process per trial"):
        if ref in walls:
            print(f"  {ref} / lrlab main command: {walls[ref] / main_wall:.2f}x")
    for a, b, what in [
            ("lrlab store, 2 worker processes", "lrlab null sink, 2 worker processes",
             "store overhead, 2 workers"),
            ("lrlab store, one process", "lrlab null sink, one process", "store overhead, one process")]:
        print(f"  {what}: {100 * (walls[a] / walls[b] - 1):+.1f} % of wall")
    print(f"  2 workers vs 1 (store): {walls['lrlab store, one process'] / walls['lrlab store, 2 worker processes']:.2f}x throughput")
    print(f"  sequential engine / plain loop: "
          f"{walls['lrlab sequential engine, one process, null sink'] / walls['plain loop, one process']:.2f}x")
    if "lrlab store, Ray (local 2-CPU cluster)" in walls:
        print(f"  Ray / local (2 workers, store): "
              f"{walls['lrlab store, Ray (local 2-CPU cluster)'] / walls['lrlab store, 2 worker processes']:.2f}x")
    print(json.dumps({"epochs": epochs, "trials": n, "walls": walls}))


if __name__ == "__main__":
    main()
