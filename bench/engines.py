"""Benchmark: the sequential and the vectorised engine side by side, against this machine's limit.

Runs the ``paddle`` preset (15 schedules x 3 seeds, 20 epochs) on digits with the default model
on both engines, each in its own process (so peak memory is its own), the same on a tabular
task (scikit-learn's breast cancer table written as a CSV; the default MLP), and the preset
with one seed for at most 5 epochs on an image folder it makes (the digits as 16x16 RGB PNGs)
with the built-in ResNet (BatchNorm, residual blocks; no scaling runs). Measures in the
same run the fp32 peak (best of matmul and convolution probes, at the start and again at the
end), counts FLOPs per trial
(``torch.utils.flop_counter``: forward + backward of every training step, the validation
forward of every epoch and the final test), and prints per engine the wall time, achieved
GFLOP/s and % of peak, peak memory, how far the engines' final test accuracies are apart, then
the vectorised engine's scaling over 1, 5, 15 and 45 trials, the largest population that fits
in 4 GiB, ``speedup: <X>x`` and, last, ``peak: <P>%`` (the vectorised engine on digits).

    python bench/engines.py [--quick] [--device cpu|cuda] [--epochs N]

``--quick``: 15 trials (one seed), 2 epochs, a one-epoch scaling: about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

GIB = 2**30


def peak_gflops(device: str) -> float:
    """This machine's fp32 peak as the best rate of several probes: square matmuls of two sizes
    and a 3x3 convolution (on some CPUs the convolution kernels beat sgemm: 247 vs 195 GFLOP/s
    on the 2-core EPYC VM), each the best of several repeats, so one probe slowed by another
    job does not set the peak."""
    import torch
    import torch.nn.functional as F

    reps = 10 if device == "cuda" else 2

    def rate(fn, flop: float) -> float:
        best = 0.0
        for _ in range(6):
            if device == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            for _ in range(reps):
                fn()
            if device == "cuda":
                torch.cuda.synchronize()
            best = max(best, reps * flop / (time.perf_counter() - t) / 1e9)
        return best

    probes = []
    for n in (2048, 4096) if device == "cuda" else (1024, 2048):
        a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
        probes.append(rate(lambda: a @ b, 2 * n**3))
    x, w = torch.randn(32, 64, 32, 32, device=device), torch.randn(64, 64, 3, 3, device=device)
    probes.append(rate(lambda: F.conv2d(x, w, padding=1), 2 * 32 * 64 * 32 * 32 * 64 * 9))
    return max(probes)


def image_folder(folder: str) -> str:
    """scikit-learn's digits as an image folder (one subfolder per class, 16x16 RGB PNGs,
    tinted per image so the three channels differ), made once in ``folder``."""
    path = os.path.join(folder, "digits-rgb")
    if not os.path.exists(path):
        import numpy as np
        from PIL import Image
        from sklearn.datasets import load_digits

        data = load_digits()
        rng = np.random.default_rng(0)
        for i, (img, label) in enumerate(zip(data.images, data.target)):
            os.makedirs(os.path.join(path, str(label)), exist_ok=True)
            gray = np.kron(img / 16.0, np.ones((2, 2)))  # 8x8 -> 16x16
            rgb = (gray[..., None] * rng.uniform(0.5, 1.0, 3) * 255).astype(np.uint8)
            Image.fromarray(rgb).save(os.path.join(path, str(label), f"{i}.png"))
    return path


def task_of(name: str, folder: str):
    from lrlab.training.tasks import load_task, model_factory

    if name == "digits":
        return load_task("digits")
    if name == "resnet":
        task = load_task(f"imagefolder:{image_folder(folder)}", size=16,
                         cache_dir=os.path.join(folder, "cache"))
        return task.with_model(model_factory("resnet"), "resnet")
    path = os.path.join(folder, "breast_cancer.csv")
    if not os.path.exists(path):
        from sklearn.datasets import load_breast_cancer

        data = load_breast_cancer()
        rows = [",".join(map(repr, map(float, x))) + f",{y}" for x, y in zip(data.data, data.target)]
        with open(path, "w") as f:
            f.write(",".join(n.replace(" ", "_") for n in data.feature_names) + ",label\n")
            f.write("\n".join(rows) + "\n")
    return load_task(f"csv:{path}")


def flops(task, batch: int = 64) -> tuple[float, float]:
    """(FLOPs of one training example: forward + backward, of one evaluated example: forward)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = task.build_model()
    x, y = task.train.x[:batch], task.train.y[:batch]
    with FlopCounterMode(display=False) as train:
        task.loss(model(x), y).backward()
    with torch.no_grad(), FlopCounterMode(display=False) as fwd:
        model(x)
    return train.get_total_flops() / len(x), fwd.get_total_flops() / len(x)


def child(args) -> None:
    """One engine run in this process: print its measurements as JSON."""
    import torch

    from lrlab.schedules.presets import preset
    from lrlab.training.engines import train_population, vectorized
    from lrlab.training.trial import TrialConfig

    if args.population:  # exactly one population of them all (no cache-sized split)
        vectorized.MAX_POPULATION, vectorized.ACTIVATIONS = args.population, {}
    task = task_of(args.task, args.folder)
    entries = preset("paddle", 0.05)
    cfgs = [TrialConfig(**e.trial_args(), epochs=args.epochs, seed=s, name=f"{e.label}-seed{s}")
            for s in range(args.seeds) for e in entries][:args.trials]
    train_population(task, cfgs[:2], engine=args.engine, device=args.device)  # warm-up: kernels, caches
    if args.device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t = time.perf_counter()
    recs = train_population(task, cfgs, engine=args.engine, device=args.device)
    wall = time.perf_counter() - t
    train_ex, eval_ex = flops(task)
    total = sum(len(r.epochs) * (len(task.train) * train_ex + len(task.val) * eval_ex)
                + len(task.test) * eval_ex for r in recs)
    memory = (torch.cuda.max_memory_allocated() if args.device == "cuda"
              else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before)
    print(json.dumps({"wall": wall, "flops": total, "memory": memory,
                      "acc": [r.test_acc for r in recs], "lrs": [r.lrs for r in recs]}))


def run(engine: str, task: str, trials: int, seeds: int, epochs: int, opts, population: int = 0) -> dict:
    cmd = [sys.executable, __file__, "--child", "--engine", engine, "--task", task,
           "--trials", str(trials), "--seeds", str(seeds), "--epochs", str(epochs),
           "--device", opts.device, "--folder", opts.folder, "--population", str(population)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    for name, kind in [("engine", str), ("task", str), ("trials", int), ("seeds", int),
                       ("folder", str), ("population", int)]:
        p.add_argument(f"--{name}", type=kind, default=None, help=argparse.SUPPRESS)
    opts = p.parse_args()
    if opts.child:
        return child(opts)
    import torch

    seeds = 1 if opts.quick else 3
    epochs = opts.epochs or (2 if opts.quick else 20)
    scale_epochs = 1 if opts.quick else 3
    with tempfile.TemporaryDirectory() as folder:
        opts.folder = folder
        peak = peak_gflops(opts.device)
        print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__} "
              f"({torch.get_num_threads()} threads), device {opts.device}")
        print(f"fp32 peak (best of matmul and 3x3 convolution probes): {peak:.1f} GFLOP/s")

        def line(name, r):
            rate = r["flops"] / r["wall"] / 1e9
            return (f"  {name:<11} {r['wall']:7.1f} s  {rate:6.1f} GFLOP/s  {100 * rate / peak:5.1f}% "
                    f"of peak  memory {r['memory'] / GIB:5.2f} GiB")

        digits_peak = speedup = None
        for task in ("digits", "tabular", "resnet"):
            n_seeds, n_epochs = (1, min(epochs, 5)) if task == "resnet" else (seeds, epochs)
            trials = 15 * n_seeds
            print(f"\n{task}: paddle preset, {trials} trials ({n_seeds} seed(s)), {n_epochs} epochs")
            seq = run("sequential", task, trials, n_seeds, n_epochs, opts)
            vec = run("vectorized", task, trials, n_seeds, n_epochs, opts)
            print(line("sequential", seq))
            print(line("vectorized", vec))
            diffs = [abs(a - b) * 100 for a, b in zip(seq["acc"], vec["acc"])]
            same_lrs = sum(a == b for a, b in zip(seq["lrs"], vec["lrs"]))
            print(f"  test accuracy, vectorized vs sequential: mean |diff| {sum(diffs) / len(diffs):.2f} "
                  f"points, max {max(diffs):.2f}; identical LR sequences: {same_lrs}/{trials}")
            ratio = seq["wall"] / vec["wall"]
            print(f"  {task} speedup: {ratio:.2f}x")
            rate = vec["flops"] / vec["wall"] / 1e9
            if task == "digits":
                digits_peak, speedup = 100 * rate / peak, ratio
            if task == "resnet":
                continue
            print(f"  scaling (vectorized, {scale_epochs} epoch(s), one population):")
            points = []
            for n in (1, 5, 15) if opts.quick else (1, 5, 15, 45):
                r = run("vectorized", task, n, 3, scale_epochs, opts, population=n)
                rate = r["flops"] / r["wall"] / 1e9
                points.append((n, r["memory"]))
                print(f"    {n:3d} trials: {r['wall']:6.1f} s  {rate:6.1f} GFLOP/s  "
                      f"{100 * rate / peak:5.1f}%  memory {r['memory'] / GIB:5.2f} GiB")
            (n0, m0), (n1, m1) = points[0], points[-1]
            per_trial = max((m1 - m0) / (n1 - n0), 1.0)
            print(f"  largest population in 4 GiB: about {int((4 * GIB - m0) / per_trial) + n0} trials "
                  f"({per_trial / 2**20:.1f} MiB per trial)")
        again = peak_gflops(opts.device)
        if again > peak:  # the first probes ran slowed: the percentages above are too high
            print(f"\npeak measured again at the end: {again:.1f} GFLOP/s (the first probes "
                  f"were slowed by {100 * (1 - peak / again):.0f} %; the percentages above use "
                  f"the first, the last line the higher)")
            digits_peak *= peak / again
    print(f"\nspeedup: {speedup:.2f}x")
    print(f"peak: {digits_peak:.0f}%")


if __name__ == "__main__":
    main()
