"""A seeded differential fuzz of ``lrlab.from_torch`` / ``lrlab.from_paddle`` against the real
torch and Paddle classes (every class, the combinators nested, the plateau ones on random
metrics).

Each case draws "valid-ish" keywords for one class (edges on purpose: ``eta_min`` above the LR,
``max_lr`` below ``base_lr``, phases shorter than a step, zero factors, huge ``T_mult``...),
steps the framework ``n - 1`` times and compares ``s(k)`` (and ``s.curve(n)``, which must be
identical) at every step, to ``RTOL`` relative. Outcomes:

- ``matched``: every step agrees; where the framework's value is negative (or NaN / inf)
  lrlab gives 0 (a rounding-sized negative, or torch's ``OneCycleLR`` at its end) or raises
  a ``ValueError`` at that step; steps after the framework raises are not compared (the
  report counts the matched cases where the framework raises or goes invalid at some step);
- ``both refuse``: both raise at construction;
- ``refused: framework fails``: lrlab refuses at construction, and the framework raises, or
  its LR is NaN, inf or negative, at some step (within ``LONG`` steps);
- ``refused: user error``: lrlab refuses a documented user error (``USER_ERRORS``);
- ``mismatch``: anything else (a value differs, lrlab refuses what the framework computes, or
  accepts what it refuses, or raises something other than ValueError / TypeError).

Used by ``tests/compat/test_fuzz.py`` (a few hundred cases) and ``bench/fuzz_compat.py``
(``python bench/fuzz_compat.py --cases 6400``). Frameworks are imported when a case runs.
"""

from __future__ import annotations

import math
import random
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

RTOL, ATOL = 1e-9, 1e-15
LONG = 2000  # steps run further to see whether the framework fails later
CATEGORIES = ("matched", "both refuse", "refused: framework fails", "refused: user error",
              "mismatch")


# ---- callables the cases use (module level, so their reprs are readable) -------------------
def geo(k):
    return 0.95 ** k


def inverse(k):
    return 1.0 / (k + 1)


def stairs(k):
    return 0.5 ** (k // 3)


def const09(k):
    return 0.9


def alternate(k):
    return 1.0 if k % 2 else 0.5


def grow(k):
    return 1.02


def half_cycle(c):
    return 1 / (2.0 ** (c - 1))


def slow(x):
    return 1.0 / (1.0 + 0.05 * x)


LAMBDAS = [geo, inverse, stairs, const09, alternate]
FACTORS = [const09, alternate, grow, geo]
SCALES = [half_cycle, slow]


@dataclass
class Sub:
    """A nested scheduler: torch members of SequentialLR / ChainedScheduler, Paddle's
    LinearWarmup(learning_rate=...)."""

    cls: str
    kw: dict

    def __repr__(self):
        return f"{self.cls}({', '.join(f'{k}={_show(v)}' for k, v in self.kw.items())})"


def _show(v):
    if callable(v) and not isinstance(v, Sub):
        return v.__name__
    if isinstance(v, list):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    if isinstance(v, float):
        return f"{v:.6g}"
    return repr(v)


@dataclass
class Case:
    framework: str  # "torch" | "paddle"
    cls: str
    kw: dict
    n: int
    lr: float = 0.1  # torch: the optimizer's LR
    metrics: list = field(default_factory=list)  # plateau classes

    def __repr__(self):
        lr = f"lr={self.lr:.6g}, " if self.framework == "torch" else ""
        return f"{self.framework}:{Sub(self.cls, self.kw)!r} [{lr}n={self.n}]"


# ---- drawing keywords -----------------------------------------------------------------------
def _lr(r: random.Random) -> float:
    return r.choice([0.1, 1.0, 0.05, round(10 ** r.uniform(-4, 0.5), 6), 0.0])


def _frac(r: random.Random, zero=True, one=True) -> float:
    opts = [round(r.uniform(0.01, 0.99), 4)] * 4 + ([0.0] if zero else []) + ([1.0] if one else [])
    return r.choice(opts)


def _count(r: random.Random, low: int, high: int):
    """A step count; now and then a fractional one (torch computes with it: a user error)."""
    k = r.randint(low, high)
    return k + 0.5 if r.random() < 0.03 else k


def torch_leaf(r: random.Random, cls: str, n: int) -> dict:
    if cls == "LambdaLR":
        fn = r.choice(LAMBDAS)
        return {"lr_lambda": [fn] if r.random() < 0.2 else fn}
    if cls == "MultiplicativeLR":
        return {"lr_lambda": r.choice(FACTORS)}
    if cls == "StepLR":
        return {"step_size": _count(r, 1, max(1, n // 3)),
                "gamma": r.choice([_frac(r), round(r.uniform(1.0, 1.3), 3)])}
    if cls == "MultiStepLR":
        return {"milestones": [r.randint(0, n) for _ in range(r.randint(0, 4))],
                "gamma": r.choice([_frac(r), 1.5])}
    if cls == "ConstantLR":
        return {"factor": r.choice([_frac(r, zero=False), 1.0 / 3, 0.0]), "total_iters": r.randint(0, n // 2)}
    if cls == "LinearLR":
        return {"start_factor": r.choice([_frac(r, zero=False), 1.0 / 3]), "end_factor": _frac(r),
                "total_iters": r.randint(0, n // 2)}
    if cls == "ExponentialLR":
        return {"gamma": r.choice([_frac(r), round(r.uniform(0.9, 1.05), 4)])}
    if cls == "PolynomialLR":
        return {"total_iters": r.randint(0, n // 2), "power": r.choice([1.0, 2.0, 0.5, 0.0, round(r.uniform(0, 3), 3)])}
    if cls == "CosineAnnealingLR":
        return {"T_max": r.choice([1, 2, _count(r, 1, 12), r.randint(1, n)]),
                "eta_min": r.choice([0.0, 0.001, round(r.uniform(0, 0.3), 4), 1e-10])}
    if cls == "CyclicLR":
        kw = {"base_lr": _lr(r), "max_lr": _lr(r), "step_size_up": _count(r, 1, 12),
              "step_size_down": r.choice([None, r.randint(1, 12), 0]),
              "mode": r.choice(["triangular", "triangular2", "exp_range"]),
              "gamma": r.choice([1.0, round(r.uniform(0.8, 1.0), 4), 1.02])}
        if r.random() < 0.2:
            kw["scale_fn"] = r.choice(SCALES)
            kw["scale_mode"] = r.choice(["cycle", "iterations"])
        return kw
    if cls == "OneCycleLR":
        kw: dict[str, Any] = {"max_lr": r.choice([1.0, 0.1, _lr(r)])}
        total = r.choice([1, 2, 3, r.randint(1, 10), r.randint(10, n)])
        if r.random() < 0.2:
            kw.update(epochs=r.randint(1, 5), steps_per_epoch=max(1, total // 3))
        else:
            kw["total_steps"] = total
        kw["pct_start"] = r.choice([0.3, 0.0, 1.0, 0.5, round(r.uniform(0, 1), 3)])
        kw["anneal_strategy"] = r.choice(["cos", "linear"])
        kw["div_factor"] = r.choice([25.0, round(r.uniform(1, 50), 2)])
        kw["final_div_factor"] = r.choice([1e4, round(r.uniform(1, 100), 2)])
        kw["three_phase"] = r.random() < 0.3
        return kw
    if cls == "CosineAnnealingWarmRestarts":
        return {"T_0": r.randint(1, 20), "T_mult": r.choice([1, 1, 2, 3, 100_000]),
                "eta_min": r.choice([0.0, 0.01, round(r.uniform(0, 0.5), 4)])}
    raise KeyError(cls)


TORCH_LEAVES = ["LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR",
                "ExponentialLR", "PolynomialLR", "CosineAnnealingLR", "CyclicLR", "OneCycleLR",
                "CosineAnnealingWarmRestarts"]
TORCH_CLASSES = TORCH_LEAVES + ["SequentialLR", "ChainedScheduler", "ReduceLROnPlateau"]


def _torch_members(r: random.Random, n: int, depth: int) -> list[Sub]:
    out = []
    for i in range(r.choice([1, 2, 2, 3])):
        if depth > 0 and r.random() < 0.25:
            cls = r.choice(["SequentialLR", "ChainedScheduler"])
            out.append(Sub(cls, torch_combinator(r, cls, n, depth - 1)))
        else:
            cls = r.choice(TORCH_LEAVES)
            out.append(Sub(cls, torch_leaf(r, cls, n)))
    return out


def torch_combinator(r: random.Random, cls: str, n: int, depth: int = 1) -> dict:
    members = _torch_members(r, n, depth)
    if cls == "ChainedScheduler":
        return {"schedulers": members}
    ms = sorted(r.sample(range(1, max(2, n)), min(len(members) - 1, max(1, n - 2))))
    return {"schedulers": members[:len(ms) + 1], "milestones": ms}


def _metrics(r: random.Random, n: int) -> list[float]:
    x, out = r.uniform(1, 10), []
    for _ in range(n):
        x += r.choice([-0.5, -0.01, 0.0, 0.0, 0.01, 0.3]) * r.random()
        out.append(round(x, r.choice([2, 6])))
    return out


def torch_case(r: random.Random, cls: str) -> Case:
    n = r.choice([20, 40, 80, 160])
    lr = _lr(r)
    if cls == "ReduceLROnPlateau":
        kw = {"mode": r.choice(["min", "max"]), "factor": r.choice([0.1, 0.5, round(r.uniform(0.05, 0.95), 3)]),
              "patience": r.randint(0, 5), "threshold": r.choice([1e-4, 0.0, 0.05]),
              "threshold_mode": r.choice(["rel", "abs"]), "cooldown": r.randint(0, 3),
              "min_lr": r.choice([0, 1e-3, [1e-4]]), "eps": r.choice([1e-8, 0.0, 1e-3])}
        return Case("torch", cls, kw, n, lr if lr > 0 else 0.1, _metrics(r, n))
    if cls in ("SequentialLR", "ChainedScheduler"):
        return Case("torch", cls, torch_combinator(r, cls, n, depth=1), n, lr)
    kw = torch_leaf(r, cls, n)
    if cls == "OneCycleLR":
        total = kw.get("total_steps") or kw["epochs"] * kw["steps_per_epoch"]
        n = total + 1  # torch raises past total_steps
    return Case("torch", cls, kw, n, lr)


def paddle_kw(r: random.Random, cls: str, n: int, depth: int = 1) -> dict:
    lr = _lr(r)
    if cls == "NoamDecay":
        return {"d_model": r.choice([16, 64.0, 512]), "warmup_steps": r.randint(1, n),
                "learning_rate": r.choice([1.0, lr])}
    if cls == "PiecewiseDecay":
        b = sorted(r.sample(range(0, n), r.randint(1, 4)))
        if r.random() < 0.15:
            r.shuffle(b)  # a user error when not increasing
        if r.random() < 0.2:
            b = [x + 0.5 for x in b]
        return {"boundaries": b, "values": [_lr(r) for _ in range(len(b) + 1 + r.choice([0, 0, 1]))]}
    if cls in ("NaturalExpDecay", "InverseTimeDecay"):
        return {"learning_rate": lr, "gamma": r.choice([0.1, round(r.uniform(0.001, 2), 4)])}
    if cls == "PolynomialDecay":
        return {"learning_rate": lr, "decay_steps": r.randint(1, n), "end_lr": r.choice([1e-4, 0.0, lr / 2]),
                "power": r.choice([1.0, 2.0, round(r.uniform(0.1, 3), 3)]), "cycle": r.random() < 0.4}
    if cls == "LinearWarmup":
        start = r.choice([0.0, round(r.uniform(0, 0.05), 4)])
        kw = {"warmup_steps": r.randint(1, n // 2), "start_lr": start,
              "end_lr": round(start + r.uniform(0.001, 0.5), 4)}
        if depth > 0 and r.random() < 0.6:
            inner = r.choice([c for c in PADDLE_CLASSES if c not in ("ReduceOnPlateau",)])
            kw["learning_rate"] = Sub(inner, paddle_kw(r, inner, n, depth - 1))
        else:
            kw["learning_rate"] = lr
        return kw
    if cls == "ExponentialDecay":
        return {"learning_rate": lr, "gamma": _frac(r, zero=False, one=False)}
    if cls == "MultiStepDecay":
        return {"learning_rate": lr, "milestones": sorted(r.sample(range(1, n), r.randint(0, 4))),
                "gamma": _frac(r, one=False)}
    if cls == "StepDecay":
        return {"learning_rate": lr, "step_size": r.randint(1, n // 2), "gamma": _frac(r, one=False)}
    if cls == "LambdaDecay":
        return {"learning_rate": lr, "lr_lambda": r.choice(LAMBDAS)}
    if cls == "MultiplicativeDecay":
        return {"learning_rate": lr, "lr_lambda": r.choice(FACTORS)}
    if cls == "CosineAnnealingDecay":
        return {"learning_rate": lr, "T_max": r.choice([1, 2, r.randint(1, 12), r.randint(1, n)]),
                "eta_min": r.choice([0, 0.001, round(r.uniform(0, 0.3), 4)])}
    if cls == "OneCycleLR":
        return {"max_learning_rate": r.choice([0.1, 1.0, lr]), "total_steps": r.choice([1, 2, 3, r.randint(1, n)]),
                "divide_factor": r.choice([25.0, round(r.uniform(1, 50), 2)]),
                "end_learning_rate": r.choice([1e-4, 0.0, 0.01]),
                "phase_pct": r.choice([0.3, 0.0, 0.45, round(r.uniform(0, 0.49), 3)]),
                "anneal_strategy": r.choice(["cos", "linear"]), "three_phase": r.random() < 0.3}
    if cls == "CyclicLR":
        kw = {"base_learning_rate": _lr(r), "max_learning_rate": _lr(r), "step_size_up": r.randint(1, 12),
              "step_size_down": r.choice([None, r.randint(1, 12)]),
              "mode": r.choice(["triangular", "triangular2", "exp_range"]),
              "exp_gamma": r.choice([1.0, round(r.uniform(0.8, 1.0), 4), 1.05, 0.0])}
        if r.random() < 0.2:
            kw["scale_fn"] = r.choice(SCALES)
            kw["scale_mode"] = r.choice(["cycle", "iterations"])
        return kw
    if cls == "LinearLR":
        return {"learning_rate": lr, "total_steps": r.randint(1, n),
                "start_factor": r.choice([1.0 / 3, _frac(r, zero=False)]), "end_factor": _frac(r)}
    if cls == "CosineAnnealingWarmRestarts":
        return {"learning_rate": lr, "T_0": r.randint(1, 20), "T_mult": r.choice([1, 1, 2, 3, 100_000]),
                "eta_min": r.choice([0, 0.01, round(r.uniform(0, 0.5), 4)])}
    if cls == "ReduceOnPlateau":
        return {"learning_rate": lr if lr > 0 else 0.1, "mode": r.choice(["min", "max"]),
                "factor": r.choice([0.1, 0.5, round(r.uniform(0.05, 0.95), 3)]), "patience": r.randint(0, 5),
                "threshold": r.choice([1e-4, 0.0, 0.05]), "threshold_mode": r.choice(["rel", "abs"]),
                "cooldown": r.randint(0, 3), "min_lr": r.choice([0, 1e-3]), "epsilon": r.choice([1e-8, 0.0])}
    raise KeyError(cls)


PADDLE_CLASSES = ["NoamDecay", "PiecewiseDecay", "NaturalExpDecay", "InverseTimeDecay", "PolynomialDecay",
                  "LinearWarmup", "ExponentialDecay", "MultiStepDecay", "StepDecay", "LambdaDecay",
                  "ReduceOnPlateau", "CosineAnnealingDecay", "MultiplicativeDecay", "OneCycleLR", "CyclicLR",
                  "LinearLR", "CosineAnnealingWarmRestarts"]


def paddle_case(r: random.Random, cls: str) -> Case:
    n = r.choice([20, 40, 80, 160])
    kw = paddle_kw(r, cls, n)
    if cls == "OneCycleLR":
        n = kw["total_steps"] + 1  # Paddle raises past total_steps
    return Case("paddle", cls, kw, n, metrics=_metrics(r, n) if cls == "ReduceOnPlateau" else [])


def cases(count: int, seed: int = 0) -> list[Case]:
    """``count`` cases, the classes of both frameworks in turn, drawn from ``seed``."""
    r = random.Random(seed)
    classes = [("torch", c) for c in TORCH_CLASSES] + [("paddle", c) for c in PADDLE_CLASSES]
    out = []
    for i in range(count):
        fw, cls = classes[i % len(classes)]
        out.append(torch_case(r, cls) if fw == "torch" else paddle_case(r, cls))
    return out


# ---- documented user errors lrlab refuses although the framework computes something ---------
def _unsorted_boundaries(case: Case) -> bool:
    b = case.kw.get("boundaries", [])
    return any(y <= x for x, y in zip(b, b[1:]))


def _fractional(*keys):
    def pred(case: Case) -> bool:
        return any(isinstance(case.kw.get(k), float) and not case.kw[k].is_integer() for k in keys)

    return pred


USER_ERRORS = [
    ("paddle", "PiecewiseDecay", _unsorted_boundaries,
     "boundaries not increasing: a piece no step reaches"),
    ("torch", "StepLR", _fractional("step_size"), "a fractional step count"),
    ("torch", "CosineAnnealingLR", _fractional("T_max"), "a fractional step count"),
    ("torch", "CyclicLR", _fractional("step_size_up", "step_size_down"), "a fractional step count"),
]


def _nested_user_error(case: Case) -> bool:
    for fw, cls, pred, _ in USER_ERRORS:
        if case.framework == fw and case.cls == cls and pred(case):
            return True
    for v in case.kw.values():
        subs = v if isinstance(v, list) else [v]
        for s in subs:
            if isinstance(s, Sub) and _nested_user_error(Case(case.framework, s.cls, s.kw, case.n)):
                return True
    return False


# ---- running both sides -----------------------------------------------------------------------
@dataclass
class Run:
    values: list[float]
    refused: BaseException | None = None  # at construction
    raised_at: int | None = None  # the step whose update raised


def _torch_build(opt, cls, kw):
    from torch.optim import lr_scheduler as TL

    kw = dict(kw)
    if cls in ("SequentialLR", "ChainedScheduler"):
        kw["schedulers"] = [_torch_build(opt, s.cls, s.kw) for s in kw["schedulers"]]
        if cls == "ChainedScheduler":
            return TL.ChainedScheduler(kw["schedulers"])
    return getattr(TL, cls)(opt, **kw)


def run_torch(case: Case, n: int) -> Run:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = torch.nn.Parameter(torch.zeros(1))
        p.grad = torch.zeros(1)
        opt = torch.optim.SGD([p], lr=case.lr, momentum=0.9)
        try:
            sched = _torch_build(opt, case.cls, case.kw)
        except Exception as e:  # noqa: BLE001
            return Run([], refused=e)
        group = opt.param_groups[0]
        if case.cls == "ReduceLROnPlateau":
            out = []
            for m in case.metrics:
                sched.step(m)
                out.append(float(group["lr"]))
            return Run(out)
        out = [float(group["lr"])]
        for k in range(1, n):
            try:
                opt.step()
                sched.step()
            except Exception:  # noqa: BLE001
                return Run(out, raised_at=k)
            out.append(float(group["lr"]))
        return Run(out)


def _paddle_build(cls, kw):
    from paddle.optimizer import lr as plr

    kw = {k: _paddle_build(v.cls, v.kw) if isinstance(v, Sub) else v for k, v in kw.items()}
    return getattr(plr, cls)(**kw)


def run_paddle(case: Case, n: int) -> Run:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            sched = _paddle_build(case.cls, case.kw)
        except Exception as e:  # noqa: BLE001
            return Run([], refused=e)
        if case.cls == "ReduceOnPlateau":
            out = []
            for m in case.metrics:
                sched.step(m)
                out.append(float(sched.last_lr))
            return Run(out)
        out = [float(sched.last_lr)]
        for k in range(1, n):
            try:
                sched.step()
            except Exception:  # noqa: BLE001
                return Run(out, raised_at=k)
            out.append(float(sched.last_lr))
        return Run(out)


def build_lrlab(case: Case):
    import lrlab

    def sub(fw, cls, kw):
        kw = {k: ([sub(fw, s.cls, s.kw) for s in v] if isinstance(v, list) and v and isinstance(v[0], Sub)
                  else sub(fw, v.cls, v.kw) if isinstance(v, Sub) else v) for k, v in kw.items()}
        return lrlab.from_torch(cls, case.lr, **kw) if fw == "torch" else lrlab.from_paddle(cls, **kw)

    return sub(case.framework, case.cls, case.kw)


def _invalid(v: float) -> bool:
    return not math.isfinite(v) or v < 0


def _fails(run: Run) -> bool:
    return run.refused is not None or run.raised_at is not None or any(_invalid(v) for v in run.values)


def check(case: Case) -> tuple[str, str]:
    """``(category, detail)`` for one case."""
    runner = run_torch if case.framework == "torch" else run_paddle
    fw = runner(case, case.n)
    try:
        s = build_lrlab(case)
    except (ValueError, TypeError) as e:
        if fw.refused is not None:
            return "both refuse", ""
        if _fails(fw) or (not case.metrics and _fails(runner(case, max(LONG, 4 * case.n)))):
            return "refused: framework fails", ""
        if _nested_user_error(case):
            return "refused: user error", str(e)
        return "mismatch", f"lrlab refuses what the framework computes: {e}"
    except Exception as e:  # noqa: BLE001
        return "mismatch", f"lrlab crashed: {type(e).__name__}: {e}"
    if fw.refused is not None:
        return "mismatch", f"lrlab accepts what the framework refuses ({type(fw.refused).__name__}: {fw.refused})"
    if case.metrics:  # a plateau class: metric-driven
        got = [s.step(m) for m in case.metrics]
        bad = [k for k, (u, v) in enumerate(zip(got, fw.values)) if abs(u - v) > RTOL * abs(v) + ATOL]
        return ("mismatch", f"step {bad[0]}: lrlab {got[bad[0]]!r}, framework {fw.values[bad[0]]!r}") if bad \
            else ("matched", "")
    m = len(fw.values)
    got, refused_at = [], None
    try:
        for k in range(m):
            try:
                got.append(s(k))
            except ValueError:
                refused_at = k
                break
        if refused_at is None:
            curve = s.curve(m).tolist()
            if curve != got:
                return "mismatch", "s(k) differs from curve()[k]"
    except Exception as e:  # noqa: BLE001
        return "mismatch", f"lrlab crashed evaluating: {type(e).__name__}: {e}"
    for k, v in enumerate(fw.values):
        if refused_at is not None and k == refused_at:
            if _invalid(v):
                break
            return "mismatch", f"lrlab refuses step {k}, where the framework gives {v!r}"
        u = got[k]
        if _invalid(v):
            if v < 0 and u == 0.0:
                continue
            return "mismatch", f"step {k}: lrlab {u!r}, framework {v!r}"
        if not abs(u - v) <= RTOL * abs(v) + ATOL:
            return "mismatch", f"step {k}: lrlab {u!r}, framework {v!r}"
    if _fails(fw):
        where = fw.raised_at if fw.raised_at is not None else next(
            k for k, v in enumerate(fw.values) if _invalid(v))
        return "matched", f"the framework fails at step {where}; lrlab too, or gives 0 there"
    return "matched", ""


@dataclass
class Report:
    counts: Counter
    mismatches: list[tuple[Case, str]]
    user_errors: list[tuple[Case, str]]
    failing_steps: int = 0  # matched cases where the framework raises or goes invalid at a step

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def run(count: int, seed: int = 0, progress=None) -> Report:
    counts: Counter = Counter({c: 0 for c in CATEGORIES})
    mismatches, user_errors, failing = [], [], 0
    for i, case in enumerate(cases(count, seed)):
        category, detail = check(case)
        counts[category] += 1
        failing += category == "matched" and bool(detail)
        if category == "mismatch":
            mismatches.append((case, detail))
        elif category == "refused: user error":
            user_errors.append((case, detail))
        if progress:
            progress(i + 1, count)
    return Report(counts, mismatches, user_errors, failing)
