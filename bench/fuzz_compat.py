"""The seeded differential fuzz of from_torch / from_paddle against torch and Paddle: counts.

    python bench/fuzz_compat.py [--cases 6400] [--seed 0] [--show 20]

Runs ``--cases`` cases (every torch and Paddle class in turn, random valid-ish keywords; see
``tests/compat/fuzz_compat.py`` for what is drawn and how outcomes are classified) and prints
how many matched the framework step by step (rtol 1e-9), how many both refused, how many lrlab
refused where the framework fails (raises, or gives a NaN, inf or negative LR), how many lrlab
refused as documented user errors, and the mismatches (which should be 0), with examples.
The test suite runs the same fuzz on fewer cases (``tests/compat/test_fuzz.py``).
"""

import argparse
import importlib.util
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("fuzz_compat", HERE.parent / "tests" / "compat" / "fuzz_compat.py")
fuzz = importlib.util.module_from_spec(spec)
sys.modules["fuzz_compat"] = fuzz
spec.loader.exec_module(fuzz)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=6400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show", type=int, default=20, help="examples of mismatches / user errors to print")
    args = ap.parse_args()

    t0 = time.perf_counter()

    def progress(i, n):
        if i % 200 == 0 or i == n:
            print(f"\r{i}/{n} cases", end="", file=sys.stderr, flush=True)

    report = fuzz.run(args.cases, args.seed, progress)
    print(file=sys.stderr)
    elapsed = time.perf_counter() - t0
    import paddle
    import torch

    print(f"torch {torch.__version__}, paddle {paddle.__version__}; seed {args.seed}; "
          f"{report.total} cases in {elapsed:.1f} s")
    for category in fuzz.CATEGORIES:
        print(f"  {category:<28} {report.counts[category]:>6}")
        if category == "matched":
            print(f"    of which the framework raises, or gives a NaN / inf / negative LR, at some "
                  f"step (compared up to it): {report.failing_steps}")
    per_class = Counter(f"{c.framework}:{c.cls}" for c in fuzz.cases(args.cases, args.seed))
    print(f"  classes covered: {len(per_class)} (about {min(per_class.values())} to "
          f"{max(per_class.values())} cases each)")
    for title, rows in (("mismatches", report.mismatches), ("refused as user errors", report.user_errors)):
        if rows:
            print(f"\n{title} (first {min(args.show, len(rows))} of {len(rows)}):")
            for case, detail in rows[:args.show]:
                print(f"  {case!r}\n      {detail}")
    return 1 if report.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
