"""Benchmark: `lrlab train --task digits` for 20 epochs (default CNN, cosine), and the cost of
loading the digits task the first time vs again (the engine shares one task among trials).

Prints test accuracy (target >= 0.97), wall time, time per epoch and the cache speedup.
Run: python bench/bench_train_digits.py
"""

import json
import subprocess
import sys
import tempfile
import time


def main() -> None:
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        proc = subprocess.run(["lrlab", "train", "--task", "digits", "--schedule", "cosine",
                               "--epochs", "20", "--out", out, "--quiet", "--json"],
                              capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
        [summary] = json.loads(proc.stdout)["trials"]
        epochs = [json.loads(line) for line in open(f"{out}/{summary['name']}/epochs.jsonl")]
    per_epoch = sum(e["seconds"] for e in epochs) / len(epochs)
    print("lrlab train --task digits --schedule cosine --epochs 20")
    print(f"  test accuracy : {summary['test_acc']:.4f}  (target >= 0.97)")
    print(f"  status        : {summary['status']}, best epoch {summary['best_epoch']}")
    print(f"  wall time     : {wall:.2f} s (process incl. imports), training {summary['seconds']:.2f} s")
    print(f"  time per epoch: {per_epoch * 1000:.1f} ms")

    import sklearn.datasets  # noqa: F401  (imports are not part of the load)
    import sklearn.model_selection  # noqa: F401

    from lrlab.training.tasks import load_task

    t0 = time.perf_counter()
    load_task("digits")
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(10):
        load_task("digits")
    again = (time.perf_counter() - t0) / 10
    print(f"digits task load: first {first * 1000:.1f} ms, again {again * 1000:.3f} ms, "
          f"speedup {first / again:.0f}x")


if __name__ == "__main__":
    sys.exit(main())
