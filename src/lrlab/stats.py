"""Statistics of a schedule comparison: pure functions over plain data.

A comparison runs every schedule once per seed; for one seed all schedules start from the
same weights and see the same batches, so the design is *paired by seed*. The report reads the
store and hands these functions plain mappings:

- ``test_acc[schedule][seed]``: the final test accuracy of a finished trial, or ``None`` / NaN
  when the trial diverged; a seed that is absent has not finished (a partial store);
- ``val_acc[schedule][seed]``: the validation accuracy after each epoch (epoch 1 first);
- ``epoch_seconds[schedule][seed]``: the wall seconds of each epoch.

What is computed, and which choice was made where there is one:

- per schedule the mean, the sample standard deviation (``ddof=1``) and a Student-t confidence
  interval of the mean test accuracy within [0, 1] (:func:`summarize`); one seed gives none;
- the **paired** difference of every schedule to the best one over the seeds both finished
  and the probability of improvement over seed pairs (:func:`paired_difference`);
- the verdict: a schedule + seed fit (:func:`two_way`), the pooled noise floored at the test
  set's quantisation (:func:`quantisation_sd`, :func:`infer_n_test`), Tukey's studentised
  range (:func:`range_quantile`) against the best, the critical difference, simultaneous
  intervals and the seeds a smaller gap needs (:func:`resolution`, :func:`seeds_needed`);
  its error rates are measured by ``bench/verdict.py``;
- how large a gap the test set's own sampling explains (:func:`test_set_noise`);
- time-to-target in epochs and seconds (:func:`time_to_target`), the area under the
  validation curve (:func:`curve_auc`) and the diverged count (:func:`diverged_count`);
- :func:`rank` puts it all together as JSON-ready plain data.

Means and sums use :func:`math.fsum` (exactly rounded) and the fit sorts its cells, so the
results do not depend on the order of the schedules or seeds, bit for bit.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from scipy import stats as _scipy_stats

__all__ = [
    "accuracies",
    "curve_auc",
    "infer_n_test",
    "diverged_count",
    "paired_difference",
    "quantisation_sd",
    "range_quantile",
    "rank",
    "rank_trials",
    "resolution",
    "seeds_needed",
    "summarize",
    "t_quantile",
    "test_set_noise",
    "time_to_target",
    "two_way",
]


# --------------------------------------------------------------------------- helpers


def _is_finite(value: Any) -> bool:
    """True for a real number that is neither NaN nor infinite (``None`` is not finite)."""
    if value is None or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _check_confidence(confidence: float) -> None:
    if not (_is_finite(confidence) and 0.0 < confidence < 1.0):
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")


def _sorted_seeds(seeds) -> list:
    """Seeds in a fixed order (their own order; by ``repr`` when they cannot be compared)."""
    seeds = list(seeds)
    try:
        return sorted(seeds)
    except TypeError:
        return sorted(seeds, key=repr)


def _mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Exactly rounded mean and sample std (``None`` for one value); identical values give
    their own value and 0.0 exactly (a plain sum would leave rounding noise)."""
    n = len(values)
    if min(values) == max(values):
        return float(values[0]), (0.0 if n > 1 else None)
    mean = math.fsum(values) / n
    if n == 1:
        return mean, None
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))


def t_quantile(confidence: float, df: int) -> float:
    """The two-sided Student-t critical value ``t_{(1+confidence)/2, df}``.

    The quantile of Student's t distribution with ``df`` degrees of freedom at probability
    ``(1 + confidence) / 2`` (``scipy.stats.t.ppf``): a fraction ``confidence`` of that
    distribution lies in ``[-t, t]``. ``confidence``: in (0, 1); ``df``: an integer >= 1.

    >>> round(t_quantile(0.95, 2), 6)   # sqrt(722/39), the closed form for df = 2
    4.302653
    >>> round(t_quantile(0.95, 1), 6)   # tan(0.475 * pi), the closed form for df = 1
    12.706205
    """
    _check_confidence(confidence)
    if isinstance(df, bool) or int(df) != df or df < 1:
        raise ValueError(f"df must be an integer >= 1, got {df!r}")
    return float(_scipy_stats.t.ppf((1.0 + confidence) / 2.0, int(df)))


# --------------------------------------------------------------------------- one schedule


def summarize(values: Sequence[float], confidence: float = 0.95,
              floor: float = 0.0) -> dict[str, Any]:
    """Mean, sample std and Student-t confidence interval of the mean of ``values``.

    With ``n`` values, mean ``m`` and sample standard deviation
    ``s = sqrt(sum((x - m)^2) / (n - 1))`` (``ddof=1``), the interval is the Student-t interval
    of the mean::

        m ± t_{(1+confidence)/2, n-1} · s / sqrt(n)

    which assumes the per-seed values are independent draws from a roughly normal
    distribution; with 3 to 5 seeds it is wide, and honestly so. ``n = 1`` gives ``std``,
    ``ci_low`` and ``ci_high`` ``None`` (one sample has no spread) and ``single_sample`` True;
    ``n = 0`` gives ``mean`` ``None`` too. Identical values give ``s = 0`` and an interval of
    zero width, unless ``floor`` > 0: the interval then uses ``max(s, floor)`` (a measurement
    quantised to 1/N examples has at least :func:`quantisation_sd` of noise).

    ``values``: finite numbers (one per seed; leave diverged trials out, or use :func:`rank`,
    which does); ``confidence``: the coverage of the interval, in (0, 1), 0.95 by default;
    ``floor``: the smallest sd the interval uses (``std`` is reported as computed).

    Returns ``{"n", "mean", "std", "ci_low", "ci_high", "single_sample"}``.

    >>> s = summarize([0.90, 0.92, 0.94])
    >>> s["n"], round(s["mean"], 12), round(s["std"], 12)
    (3, 0.92, 0.02)
    >>> round(s["ci_low"], 6), round(s["ci_high"], 6)   # 0.92 ± 4.302653 * 0.02 / sqrt(3)
    (0.870317, 0.969683)
    >>> summarize([0.8])
    {'n': 1, 'mean': 0.8, 'std': None, 'ci_low': None, 'ci_high': None, 'single_sample': True}
    """
    _check_confidence(confidence)
    values = [float(v) for v in values]
    bad = [v for v in values if not math.isfinite(v)]
    if bad:
        raise ValueError(f"summarize: values must be finite, got {bad[0]!r}")
    n = len(values)
    out: dict[str, Any] = {
        "n": n, "mean": None, "std": None, "ci_low": None, "ci_high": None,
        "single_sample": n == 1,
    }
    if n == 0:
        return out
    mean, std = _mean_std(values)
    out["mean"], out["std"] = mean, std
    if n >= 2:
        half = t_quantile(confidence, n - 1) * max(std, floor) / math.sqrt(n)
        out["ci_low"], out["ci_high"] = mean - half, mean + half
    return out


def diverged_count(test_acc: Mapping[Hashable, float | None]) -> int:
    """How many of a schedule's finished trials diverged.

    ``test_acc``: seed -> final test accuracy; a diverged trial is recorded as ``None``, NaN or
    an infinity. Seeds that are absent have not finished and are not counted.

    >>> diverged_count({0: 0.91, 1: None, 2: float("nan"), 3: 0.9})
    2
    """
    return sum(1 for v in test_acc.values() if not _is_finite(v))


def curve_auc(val_acc: Sequence[float]) -> float:
    """Area under the validation-accuracy curve, normalised by the number of epochs.

    A step rule: the accuracy measured after epoch ``k`` stands for the whole of epoch ``k``,
    so the area over ``E`` epochs divided by ``E`` is the plain mean::

        AUC = (1 / E) · sum_{k=1..E} acc_k

    (a trapezoid would need an accuracy at epoch 0, which is not measured). With accuracies in
    [0, 1] the result is in [0, 1]: 1 for a run that is perfect from its first epoch; a higher
    value means good accuracy earlier, i.e. better *anytime* performance. A curve cut short by
    early stopping is averaged over its own epochs. A non-finite accuracy (None, NaN) counts as
    0: an epoch without a valid accuracy earns nothing.

    ``val_acc``: the validation accuracy after each epoch, epoch 1 first (not empty).

    >>> round(curve_auc([0.5, 0.8, 0.9, 0.9]), 12)   # (0.5 + 0.8 + 0.9 + 0.9) / 4
    0.775
    """
    values = [float(v) if _is_finite(v) else 0.0 for v in val_acc]
    if not values:
        raise ValueError("curve_auc: val_acc must hold at least one epoch, got an empty curve")
    return math.fsum(values) / len(values)


def time_to_target(
    val_acc: Sequence[float],
    target: float,
    epoch_seconds: Sequence[float] | None = None,
) -> tuple[int, float | None] | None:
    """The first epoch, and the wall time, at which the validation accuracy reaches ``target``.

    ``k* = min{k >= 1 : acc_k >= target}`` (a count of epochs, 1-based) and
    ``seconds = sum_{k=1..k*} epoch_seconds_k`` (cumulative wall time up to the end of that
    epoch). Returns ``(k*, seconds)``, ``(k*, None)`` without ``epoch_seconds``, or ``None``
    when the target is never reached. A non-finite accuracy never reaches a target.

    ``val_acc``: the validation accuracy after each epoch, epoch 1 first; ``target``: the
    accuracy to reach (:func:`rank` uses 95% and 99% of the best schedule's final validation
    accuracy); ``epoch_seconds``: the wall seconds of each epoch, as many as ``val_acc``.

    >>> time_to_target([0.5, 0.8, 0.9, 0.95], 0.85, [2.0, 1.5, 1.5, 1.5])
    (3, 5.0)
    >>> time_to_target([0.5, 0.8], 0.85) is None
    True
    """
    if not _is_finite(target):
        raise ValueError(f"time_to_target: target must be finite, got {target!r}")
    if epoch_seconds is not None and len(epoch_seconds) != len(val_acc):
        raise ValueError(
            f"time_to_target: epoch_seconds must have one entry per epoch ({len(val_acc)}), "
            f"got {len(epoch_seconds)}"
        )
    for k, acc in enumerate(val_acc, start=1):
        if _is_finite(acc) and float(acc) >= target:
            if epoch_seconds is None:
                return k, None
            return k, math.fsum(float(s) for s in epoch_seconds[:k])
    return None


# --------------------------------------------------------------------------- comparisons


def paired_difference(
    x: Mapping[Hashable, float | None],
    y: Mapping[Hashable, float | None],
    confidence: float = 0.95,
) -> dict[str, Any]:
    """The paired difference ``x - y`` over the seeds both finished, with its test.

    Over the ``n`` shared seeds ``i`` where both values are finite, ``d_i = x_i - y_i``, with
    mean ``d̄`` and sample std ``s_d`` (``ddof=1``):

    - interval: ``d̄ ± t_{(1+confidence)/2, n-1} · s_d / sqrt(n)`` (Student t on the paired
      differences);
    - paired t-test: ``t = d̄ / (s_d / sqrt(n))``, two-sided ``p = 2 · P(T_{n-1} >= |t|)``.
      When ``s_d = 0`` (every seed gives the same difference) ``t`` is infinite, so
      ``p = 0.0`` when ``d̄ != 0`` and ``p = 1.0`` when ``d̄ = 0`` (no division, no warning);
    - probability of improvement: the fraction of shared seeds on which ``x`` beats ``y``,
      a tie counting 1/2: ``(#{x_i > y_i} + #{x_i = y_i} / 2) / n``. It is taken over the
      seed *pairs* because for one seed both trials start from the same weights and see the
      same batches; the all-pairs version ``P(X > Y)`` over all ``n²`` combinations of seeds
      would discard that pairing and mix seed-to-seed variation into the comparison.

    With ``n < 2`` there is no interval and no p-value (``None``); with ``n = 0`` no mean and no
    probability either.

    ``x``, ``y``: seed -> final test accuracy (``None`` / NaN for a diverged trial, which is
    left out of the pairs, as is a seed missing from either side); ``confidence``: the
    coverage of the interval, in (0, 1).

    Returns ``{"n_shared", "mean", "std", "ci_low", "ci_high", "t", "p_value",
    "prob_improvement"}``.

    >>> d = paired_difference({0: 0.90, 1: 0.93, 2: 0.95}, {0: 0.91, 1: 0.91, 2: 0.92})
    >>> d["n_shared"], round(d["mean"], 12), round(d["std"], 12)   # d = -0.01, 0.02, 0.03
    (3, 0.013333333333, 0.020816659995)
    >>> round(d["p_value"], 6), d["prob_improvement"]              # t² = 16/13, p = 1 - sqrt(8/21)
    (0.382787, 0.6666666666666666)
    """
    _check_confidence(confidence)
    shared = _sorted_seeds(s for s in x if s in y and _is_finite(x[s]) and _is_finite(y[s]))
    n = len(shared)
    out: dict[str, Any] = {
        "n_shared": n, "mean": None, "std": None, "ci_low": None, "ci_high": None,
        "t": None, "p_value": None, "prob_improvement": None,
    }
    if n == 0:
        return out
    xs = [float(x[s]) for s in shared]
    ys = [float(y[s]) for s in shared]
    wins = sum(1 for a, b in zip(xs, ys) if a > b)
    ties = sum(1 for a, b in zip(xs, ys) if a == b)
    out["prob_improvement"] = (wins + 0.5 * ties) / n
    diffs = [a - b for a, b in zip(xs, ys)]
    mean, std = _mean_std(diffs)
    out["mean"], out["std"] = mean, std
    if n < 2:
        return out
    half = t_quantile(confidence, n - 1) * std / math.sqrt(n)
    out["ci_low"], out["ci_high"] = mean - half, mean + half
    if std == 0.0:
        out["t"] = 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
        out["p_value"] = 1.0 if mean == 0.0 else 0.0
    else:
        t = mean / (std / math.sqrt(n))
        out["t"] = t
        out["p_value"] = min(1.0, float(2.0 * _scipy_stats.t.sf(abs(t), n - 1)))
    return out


# --------------------------------------------------------------------------- the verdict


def infer_n_test(values, limit: int = 100_000) -> int | None:
    """The smallest ``N <= limit`` of which every finite value is a multiple of ``1/N``
    (``N · value`` within 1e-7 of a whole number): accuracies are counts over a test set of
    ``N`` examples or a multiple of it. ``None`` when there is no value or none fits.

    >>> infer_n_test([0.9, 0.91, 0.92]), infer_n_test([0.5, 0.25]), infer_n_test([])
    (100, 4, None)
    """
    import numpy as np

    vals = np.array([float(v) for v in values if _is_finite(v)])
    if not len(vals):
        return None
    for start in range(1, limit + 1, 5000):  # blocks: a few MB of work at a time
        n = np.arange(start, min(start + 5000, limit + 1))[:, None]
        ok = (np.abs(vals * n - np.round(vals * n)) < 1e-7).all(axis=1)
        if ok.any():
            return int(n[ok.argmax(), 0])
    return None


def quantisation_sd(n_test: int) -> float:
    """The standard deviation of rounding to a count of ``n_test`` test examples:
    ``1 / (sqrt(12) · n_test)``, the sd of a uniform error one example wide. An accuracy is a
    count over the test set, so no run measures a trial's noise below it: it floors the
    noise estimate (a schedule one image behind on every seed does not get zero variance).

    >>> round(quantisation_sd(360) * 360 * math.sqrt(12), 12)
    1.0
    """
    if isinstance(n_test, bool) or int(n_test) != n_test or n_test < 1:
        raise ValueError(f"n_test must be an int >= 1, got {n_test!r}")
    return 1.0 / (math.sqrt(12.0) * n_test)


@functools.lru_cache(maxsize=4096)
def range_quantile(k: int, df: int, alpha: float = 0.05) -> float:
    """Tukey's critical value ``q_{1-alpha}(k, df)``: the ``1 - alpha`` quantile of the
    studentised range of ``k`` means with ``df`` degrees of freedom for their common variance
    (``scipy.stats.studentized_range``). Two means ``n`` seeds each differ beyond chance,
    for all ``k(k-1)/2`` pairs at once, when ``|ȳ_i - ȳ_j| > q · σ / sqrt(n)``; so choosing the
    best from the same data costs nothing. ``k >= 2``, ``df >= 1``; cached.

    >>> round(range_quantile(3, 10), 2), round(range_quantile(10, 30), 2)   # tables: 3.88, 4.82
    (3.88, 4.82)
    >>> round(range_quantile(2, 20) / math.sqrt(2), 4) == round(t_quantile(0.95, 20), 4)
    True
    """
    if not (_is_finite(alpha) and 0.0 < alpha < 1.0):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if k < 2 or df < 1:
        raise ValueError(f"range_quantile needs k >= 2 and df >= 1, got k={k}, df={df}")
    return float(_scipy_stats.studentized_range.ppf(1.0 - alpha, k, df))


def two_way(test_acc: Mapping[str, Mapping[Hashable, float | None]]) -> tuple[float, int]:
    """The residual sum of squares and its degrees of freedom of the additive model
    ``acc[schedule][seed] = mu + a_schedule + b_seed + e`` fitted by least squares to the
    finite accuracies (the two-way analysis of a randomised block design: each seed is a
    block, as every schedule of a seed starts from the same weights and batches). With every
    cell present, ``SS = sum (y_ij - ȳ_i. - ȳ_.j + ȳ..)^2`` and ``df = (k - 1)(n - 1)``; with
    missing cells (a diverged or unfinished trial) the least-squares fit of the same model,
    ``df`` = cells - rank of the design. ``SS / df`` is the pooled per-trial noise variance.

    >>> ss, df = two_way({"a": {0: 0.90, 1: 0.92}, "b": {0: 0.88, 1: 0.91}})
    >>> round(ss, 12), df                 # residuals ±0.0025: 4 x 0.0025² = 2.5e-05
    (2.5e-05, 1)
    """
    import numpy as np

    cells = [(name, seed, float(v)) for name, per in test_acc.items() for seed, v in per.items()
             if _is_finite(v)]
    if not cells:
        return 0.0, 0
    names = {n: i for i, n in enumerate(sorted({c[0] for c in cells}, key=str))}
    seeds = {s: i for i, s in enumerate(_sorted_seeds({c[1] for c in cells}))}
    cells.sort(key=lambda c: (names[c[0]], seeds[c[1]]))  # one order: the same bits, any input order
    k, n = len(names), len(seeds)
    if len(cells) == k * n:  # every cell: the closed form, exactly rounded
        if k < 2 or n < 2:
            return 0.0, 0
        y = [[c[2] for c in cells[i * n:(i + 1) * n]] for i in range(k)]
        rows = [math.fsum(r) / n for r in y]
        cols = [math.fsum(y[i][j] for i in range(k)) / k for j in range(n)]
        grand = math.fsum(rows) / k
        return (math.fsum((y[i][j] - rows[i] - cols[j] + grand) ** 2
                          for i in range(k) for j in range(n)), (k - 1) * (n - 1))
    x = np.zeros((len(cells), len(names) + len(seeds)))
    for row, (name, seed, _) in enumerate(cells):
        x[row, names[name]] = x[row, len(names) + seeds[seed]] = 1.0
    y = np.array([c[2] for c in cells])
    coef, _, rank_, _ = np.linalg.lstsq(x, y, rcond=None)
    df = len(cells) - int(rank_)
    if df < 1:
        return 0.0, 0
    return math.fsum((y - x @ coef) ** 2), df


def resolution(test_acc: Mapping[str, Mapping[Hashable, float | None]], *,
               n_test: int | None = None, alpha: float = 0.05,
               power: float = 0.8) -> dict[str, Any]:
    """What the run can resolve: the pooled noise, Tukey's critical value and the smallest
    differences it detects.

    ``sigma = max(sqrt(SS / df), quantisation_sd(n_test))`` from :func:`two_way` (the noise
    of one trial, seed effects removed, pooled over every schedule); ``q`` =
    :func:`range_quantile` ``(k, df, alpha)`` for the ``k`` schedules with a finite accuracy;
    with ``n`` seeds per schedule (the most common count):

    - ``critical_difference = q · sigma / sqrt(n)``: a gap to the best below it is never
      resolved (it is where detection is a coin toss);
    - ``resolvable = (q + sqrt(2) · z_power) · sigma / sqrt(n)``: the gap resolved with
      probability ``power`` (the observed paired gap has sd ``sqrt(2) · sigma / sqrt(n)``);
    - ``seeds_for(gap)`` (:func:`seeds_needed`) tells how many seeds would resolve ``gap``.

    ``n_test``: as in :func:`rank` (inferred from the accuracies when not given).
    Without any degree of freedom (one seed, or one schedule) ``sigma``, ``q`` and the
    differences are ``None``: the run resolves nothing; with most schedules at one seed the
    differences are ``None``.

    Returns ``{"k", "n", "df", "sigma", "sigma_pooled", "sigma_floor", "q", "alpha", "power",
    "critical_difference", "resolvable"}``.
    """
    finite = {name: {s: v for s, v in per.items() if _is_finite(v)} for name, per in test_acc.items()}
    finite = {name: per for name, per in finite.items() if per}
    counts = [len(per) for per in finite.values()]
    n = max(set(counts), key=lambda c: (counts.count(c), c)) if counts else 0
    ss, df = two_way(finite)
    n_test = n_test or infer_n_test(v for per in test_acc.values() for v in per.values())
    floor = quantisation_sd(n_test) if n_test else 0.0
    out: dict[str, Any] = {"k": len(finite), "n": n, "df": df, "sigma": None,
                           "sigma_pooled": math.sqrt(ss / df) if df else None,
                           "sigma_floor": floor or None, "q": None, "alpha": alpha,
                           "power": power, "critical_difference": None, "resolvable": None}
    if df < 1 or len(finite) < 2:
        return out
    sigma = max(out["sigma_pooled"], floor)
    q = range_quantile(len(finite), df, alpha)
    out.update(sigma=sigma, q=q)
    if n >= 2:
        out.update(critical_difference=q * sigma / math.sqrt(n),
                   resolvable=_power_gap(q, sigma, n, power))
    return out


def test_set_noise(a: Sequence[Any], b: Sequence[Any], confidence: float = 0.95) -> dict[str, Any]:
    """How much of a gap in test accuracy the test set's own sampling explains: ``a`` and
    ``b`` hold, per seed both finished, which of the ``N`` test examples each schedule's model
    gets right (bool arrays in the split's order). With ``D_e`` the mean over seeds of
    ``a_e - b_e`` (-1, 0 or 1 per seed), the gap is ``mean(D)`` and resampling the ``N`` test
    examples (a paired bootstrap, in its normal form; McNemar's variance for one seed) moves
    it by ``sd = std(D, ddof=1) / sqrt(N)``: ``half = z_{(1+confidence)/2} · sd``. This is
    apart from the seed-to-seed spread: the same test set serves every seed.

    Returns ``{"n_examples", "n_seeds", "gap", "sd", "half"}`` (``None`` values without data).

    >>> import numpy as np
    >>> a = np.array([1, 1, 0, 1, 0, 1, 1, 1], bool); b = np.array([1, 0, 0, 1, 1, 1, 1, 0], bool)
    >>> r = test_set_noise([a], [b]); r["gap"], round(r["sd"], 6)   # D = 0,1,0,0,-1,0,0,1
    (0.125, 0.226582)
    >>> round(math.sqrt((3 - 8 / 64) / 7 / 8), 6)                   # (sum D² - n mean²)/(n-1)/n
    0.226582
    """
    import numpy as np

    out: dict[str, Any] = {"n_examples": None, "n_seeds": len(a), "gap": None, "sd": None,
                           "half": None}
    if not a or len(a) != len(b):
        return out
    d = np.mean([np.asarray(x, float) - np.asarray(y, float) for x, y in zip(a, b)], axis=0)
    n = len(d)
    out.update(n_examples=n, gap=float(d.mean()))
    if n >= 2:
        out["sd"] = float(d.std(ddof=1) / math.sqrt(n))
        out["half"] = float(_scipy_stats.norm.ppf((1 + confidence) / 2)) * out["sd"]
    return out


test_set_noise.__test__ = False  # not a pytest test


PRIOR_DF = 1  # the pooled variance's weight in a pair's moderated variance (bench/verdict.py)


def _pair_sd(sigma: float, s_d: float, n: int) -> float:
    """The noise a comparison of two schedules over ``n`` paired seeds uses: the pair's own
    per-trial variance ``s_d² / 2`` moderated toward the pooled ``sigma²`` with ``PRIOR_DF``
    degrees of freedom (an empirical-Bayes shrinkage, as limma's moderated t), and never below
    the pooled: ``max(sigma, sqrt(((n - 1) s_d² / 2 + PRIOR_DF sigma²) / (n - 1 + PRIOR_DF)))``.
    A pair much noisier than the rest (an unstable schedule) widens its own comparison; two
    degrees of freedom of chance do not, as much.

    >>> round(_pair_sd(0.003, 0.0, 3), 6), round(_pair_sd(0.003, 0.006 * math.sqrt(2), 3), 6)
    (0.003, 0.005196)
    """
    moderated = ((n - 1) * s_d ** 2 / 2.0 + PRIOR_DF * sigma ** 2) / (n - 1 + PRIOR_DF)
    return max(sigma, math.sqrt(moderated))


def _power_gap(q: float, sigma: float, n: int, power: float) -> float:
    z = float(_scipy_stats.norm.ppf(power))
    return (q + math.sqrt(2.0) * z) * sigma / math.sqrt(n)


def seeds_needed(gap: float, res: Mapping[str, Any], max_seeds: int = 200) -> int | None:
    """The fewest seeds per schedule with which a true gap ``gap`` to the best is resolved
    with probability ``res["power"]``, for the noise ``res["sigma"]`` and the ``k`` schedules
    of :func:`resolution` ``res`` (the critical value shrinks as the degrees of freedom
    ``(k - 1)(n - 1)`` grow); ``None`` when the run has no noise estimate or more than
    ``max_seeds`` would be needed.

    >>> res = {"sigma": 0.003, "k": 15, "alpha": 0.05, "power": 0.8}
    >>> seeds_needed(0.01, res), seeds_needed(0.005, res)
    (4, 14)
    """
    if res.get("sigma") is None or not gap > 0:
        return None
    k, sigma, z = res["k"], res["sigma"], float(_scipy_stats.norm.ppf(res["power"]))
    # q falls towards q(k, inf) as the degrees of freedom grow: that bound gives the first
    # candidate (cheap), then a few exact steps up
    q_inf = float(_scipy_stats.studentized_range.ppf(1.0 - res["alpha"], k, math.inf))
    n = max(2, math.ceil(((q_inf + math.sqrt(2.0) * z) * sigma / gap) ** 2))
    while n <= max_seeds:
        if _power_gap(range_quantile(k, (k - 1) * (n - 1), res["alpha"]), sigma, n,
                      res["power"]) <= gap:
            return n
        n += 1
    return None


# --------------------------------------------------------------------------- the ranking


def _target_key(fraction: float) -> str:
    """95 for 0.95, 99 for 0.99, 99.5 for 0.995: the suffix of the time-to-target keys."""
    return f"{round(fraction * 100, 6):g}"


def rank(
    test_acc: Mapping[str, Mapping[Hashable, float | None]],
    val_acc: Mapping[str, Mapping[Hashable, Sequence[float]]] | None = None,
    epoch_seconds: Mapping[str, Mapping[Hashable, Sequence[float]]] | None = None,
    *,
    alpha: float = 0.05,
    confidence: float = 0.95,
    targets: Sequence[float] = (0.95, 0.99),
    n_test: int | None = None,
) -> list[dict[str, Any]]:
    """The ranking of a comparison, as plain data (a list of JSON-ready dicts).

    ``test_acc``: schedule name -> {seed -> final test accuracy, ``None`` / NaN when the trial
    diverged}; a seed absent from a schedule has not finished; a schedule with no finished
    trial maps to ``{}``. ``val_acc``: name -> {seed -> validation accuracy after each epoch};
    ``epoch_seconds``: name -> {seed -> wall seconds of each epoch}; both optional, both only
    read for the finished, non-diverged seeds of ``test_acc``. ``alpha``: the family-wise
    rate of false "not tied" verdicts; ``confidence``: the coverage of each schedule's own
    interval; ``targets``: fractions of the best final validation accuracy for
    time-to-target; ``n_test``: the size of the test set (its quantisation floors the noise,
    :func:`quantisation_sd`); when not given, the smallest count the accuracies can be
    fractions of (:func:`infer_n_test`), a lower bound that floors the noise at least as much.

    **The verdict** (``tied_with_best``). The accuracies are fitted with schedule + seed
    effects (:func:`two_way`: seeds are blocks, so seed-to-seed variation cancels); the
    residual noise is pooled over all schedules and floored at the test set's quantisation:
    ``sigma`` of :func:`resolution`. A schedule is compared with the best (highest mean)
    over the ``n`` seeds both finished, with ``s`` = :func:`_pair_sd` (the pair's own noise
    from its paired differences, moderated toward ``sigma`` and never below it, so one
    unstable schedule cannot hide behind a quiet pool) and Tukey's studentised-range critical
    value ``q`` for all ``k`` schedules
    (:func:`range_quantile`): it is *not tied* when its mean paired gap exceeds
    ``q · s / sqrt(n)``. As Tukey's intervals hold for all pairs at once, picking the best from
    the same data is covered: the family-wise rate of calling a truly equal schedule worse is
    at most ``alpha`` (measured by simulation in ``bench/verdict.py``). A non-rejection is
    not equivalence: ``critical_difference`` says how large a gap could hide in the tie.

    Rows are sorted by mean test accuracy, highest first (ties by more seeds, then by name);
    schedules without a finite test accuracy come last, by name. The *best* schedule is the
    first row resting on 2 or more seeds (the first row when none does): a schedule above it
    with a single finished seed is not compared. Each row holds:

    - ``name``, ``rank`` (1-based), ``is_best``;
    - ``n_seeds`` (finished, not diverged), ``seeds``, ``diverged`` (count), ``missing_seeds``
      (seeds some other schedule has a result for and this one has none: not finished);
    - ``test_acc_mean``, ``test_acc_std`` (``ddof=1``), ``ci_low``, ``ci_high`` (the Student-t
      interval of :func:`summarize`, its sd floored at the quantisation, intersected with
      [0, 1], where an accuracy lies: the coverage is unchanged), ``single_sample``
      (``n_seeds == 1``: no interval, the ranking of this schedule rests on one sample),
      ``test_acc_min``, ``test_acc_max``;
    - the paired comparison with the best (this minus best, over ``n_shared`` seeds):
      ``diff_mean``, ``diff_ci_low`` .. ``diff_ci_high`` (Tukey's simultaneous interval
      ``diff_mean ± critical_difference``, within [-1, 1]), ``critical_difference``
      (``q · s / sqrt(n_shared)``), ``prob_improvement`` (fraction of shared seeds where this
      schedule beats the best, ties 1/2); for the best itself the difference is 0 and its
      ``critical_difference`` the pooled one;
    - ``comparable`` (at least 2 shared seeds with the best and a noise estimate) and
      ``tied_with_best``: the best, every comparable schedule whose gap does not exceed its
      critical difference, and every schedule with a mean that is not comparable (one seed, or
      no degree of freedom: it *cannot be told apart*, not "as good"). A schedule without any
      finite test accuracy is never tied. With one seed everywhere, every schedule ties with
      the best and ``single_sample`` says why;
    - ``val_acc_final_mean`` (mean over seeds of the last validation accuracy; a non-finite
      one counts as 0, as in :func:`curve_auc`), ``auc_mean`` (mean over seeds of
      :func:`curve_auc`);
    - per target fraction ``f`` (keys ``95``, ``99`` for the defaults): ``target_95`` =
      ``f`` × the best mean final validation accuracy over all schedules (that schedule is
      the time-to-target reference, which need not be the test-accuracy best);
      ``reached_95`` (how many seeds with a curve reached it); ``epochs_to_95`` and
      ``seconds_to_95``: the mean over seeds of :func:`time_to_target`, ``None`` unless every
      seed with a curve reached the target (a mean over only the seeds that made it would
      flatter the schedule; ``reached_95`` of ``n_curves`` tells how many did); seconds also
      ``None`` when a reaching seed has no ``epoch_seconds``;
    - ``n_curves`` (seeds with a validation curve) and ``per_seed``: for each seed of
      ``test_acc`` in seed order ``{"seed", "test_acc", "diverged", "val_acc_final", "auc",
      "epochs_to_95", "seconds_to_95", ...}``.

    >>> rows = rank({"cosine": {0: 0.92, 1: 0.94, 2: 0.93},
    ...              "step": {0: 0.90, 1: 0.91, 2: None},
    ...              "const": {0: 0.85, 1: 0.86, 2: 0.84}}, n_test=360)
    >>> [(r["name"], round(r["test_acc_mean"], 6), r["diverged"], r["tied_with_best"])
    ...  for r in rows]
    [('cosine', 0.93, 0, True), ('step', 0.905, 1, True), ('const', 0.85, 0, False)]
    >>> round(rows[2]["diff_mean"], 6), round(rows[2]["critical_difference"], 4)
    (-0.08, 0.023)
    """
    _check_confidence(confidence)
    if not (_is_finite(alpha) and 0.0 < alpha < 1.0):
        raise ValueError(f"rank: alpha must be in (0, 1), got {alpha!r}")
    for fraction in targets:
        if not (_is_finite(fraction) and fraction > 0):
            raise ValueError(f"rank: targets must be fractions > 0, got {fraction!r}")
    val_acc = val_acc or {}
    epoch_seconds = epoch_seconds or {}
    for label, mapping in (("val_acc", val_acc), ("epoch_seconds", epoch_seconds)):
        unknown = sorted(set(mapping) - set(test_acc), key=str)
        if unknown:
            raise ValueError(f"rank: {label} names schedules not in test_acc: {unknown}")

    all_seeds = set()
    for per_seed in test_acc.values():
        all_seeds.update(per_seed)
    n_test = n_test or infer_n_test(v for per in test_acc.values() for v in per.values())
    floor = quantisation_sd(n_test) if n_test else 0.0

    # Per schedule: the test accuracy summary and the per-seed curve statistics.
    rows: dict[str, dict[str, Any]] = {}
    curves: dict[str, dict[Hashable, list]] = {}
    for name, per_seed in test_acc.items():
        finite = {s: float(v) for s, v in per_seed.items() if _is_finite(v)}
        seeds = _sorted_seeds(finite)
        summary = summarize([finite[s] for s in seeds], confidence, floor=floor)
        row: dict[str, Any] = {
            "name": name,
            "rank": None,
            "is_best": False,
            "n_seeds": summary["n"],
            "seeds": seeds,
            "diverged": diverged_count(per_seed),
            "missing_seeds": _sorted_seeds(all_seeds - set(per_seed)),
            "test_acc_mean": summary["mean"],
            "test_acc_std": summary["std"],
            "ci_low": None if summary["ci_low"] is None else max(0.0, summary["ci_low"]),
            "ci_high": None if summary["ci_high"] is None else min(1.0, summary["ci_high"]),
            "single_sample": summary["single_sample"],
            "test_acc_min": min(finite.values()) if finite else None,
            "test_acc_max": max(finite.values()) if finite else None,
        }
        rows[name] = row
        sched_curves = val_acc.get(name, {})
        curves[name] = {
            s: list(sched_curves[s]) for s in seeds if s in sched_curves and len(sched_curves[s])
        }

    # The time-to-target reference: the highest mean final validation accuracy.
    def _final(curve):
        return float(curve[-1]) if _is_finite(curve[-1]) else 0.0

    for name, row in rows.items():
        finals = [_final(c) for c in curves[name].values()]
        aucs = [curve_auc(c) for c in curves[name].values()]
        row["n_curves"] = len(finals)
        row["val_acc_final_mean"] = math.fsum(finals) / len(finals) if finals else None
        row["auc_mean"] = math.fsum(aucs) / len(aucs) if aucs else None
    val_finals = [r["val_acc_final_mean"] for r in rows.values()
                  if r["val_acc_final_mean"] is not None]
    best_val = max(val_finals) if val_finals else None

    for name, row in rows.items():
        per_seed = test_acc[name]
        sched_seconds = epoch_seconds.get(name, {})
        seed_rows = []
        for seed in _sorted_seeds(per_seed):
            value = per_seed[seed]
            ok = _is_finite(value)
            entry: dict[str, Any] = {
                "seed": seed,
                "test_acc": float(value) if ok else None,
                "diverged": not ok,
                "val_acc_final": None,
                "auc": None,
            }
            curve = curves[name].get(seed)
            if curve is not None:
                entry["val_acc_final"] = _final(curve)
                entry["auc"] = curve_auc(curve)
            for fraction in targets:
                key = _target_key(fraction)
                entry[f"epochs_to_{key}"] = entry[f"seconds_to_{key}"] = None
                if curve is None or best_val is None:
                    continue
                secs = sched_seconds.get(seed)
                hit = time_to_target(curve, fraction * best_val,
                                     None if secs is None else list(secs))
                if hit is not None:
                    entry[f"epochs_to_{key}"], entry[f"seconds_to_{key}"] = hit
            seed_rows.append(entry)
        row["per_seed"] = seed_rows
        with_curve = [e for e in seed_rows if e["auc"] is not None]
        for fraction in targets:
            key = _target_key(fraction)
            row[f"target_{key}"] = None if best_val is None else fraction * best_val
            epochs = [e[f"epochs_to_{key}"] for e in with_curve]
            seconds = [e[f"seconds_to_{key}"] for e in with_curve]
            reached = [k for k in epochs if k is not None]
            row[f"reached_{key}"] = len(reached)
            all_reached = bool(with_curve) and len(reached) == len(with_curve)
            row[f"epochs_to_{key}"] = (
                math.fsum(reached) / len(reached) if all_reached else None
            )
            row[f"seconds_to_{key}"] = (
                math.fsum(seconds) / len(seconds)
                if all_reached and all(s is not None for s in seconds) else None
            )

    # Order: mean test accuracy, highest first; then more seeds; then name.
    ranked = sorted(
        (r for r in rows.values() if r["test_acc_mean"] is not None),
        key=lambda r: (-r["test_acc_mean"], -r["n_seeds"], str(r["name"])),
    )
    ranked += sorted((r for r in rows.values() if r["test_acc_mean"] is None),
                     key=lambda r: str(r["name"]))
    for position, row in enumerate(ranked, start=1):
        row["rank"] = position

    # The verdict: every schedule against the best, Tukey's critical value (see above).
    with_mean = [r for r in ranked if r["test_acc_mean"] is not None]
    # the best: the highest mean resting on 2 or more seeds, when any does (a schedule that
    # finished one seed cannot be compared, so it cannot be the yardstick of the others)
    best = next((r for r in with_mean if r["n_seeds"] >= 2), with_mean[0] if with_mean else None)
    res = resolution(test_acc, n_test=n_test, alpha=alpha)
    for row in ranked:
        diff = (paired_difference(test_acc[row["name"]], test_acc[best["name"]], confidence)
                if best is not None else paired_difference({}, {}, confidence))
        n = diff["n_shared"]
        row["is_best"] = row is best
        row["n_shared"] = n
        row["diff_mean"] = diff["mean"]
        row["prob_improvement"] = diff["prob_improvement"]
        row["comparable"] = n >= 2 and res["q"] is not None and row["test_acc_mean"] is not None
        row["diff_ci_low"] = row["diff_ci_high"] = row["critical_difference"] = None
        if row["comparable"]:
            s = _pair_sd(res["sigma"], diff["std"] or 0.0, n)
            half = res["q"] * s / math.sqrt(n)
            row["critical_difference"] = half
            row["diff_ci_low"] = max(-1.0, diff["mean"] - half)
            row["diff_ci_high"] = min(1.0, diff["mean"] + half)
        has_mean = row["test_acc_mean"] is not None
        row["tied_with_best"] = has_mean and (
            row is best or not row["comparable"] or -diff["mean"] <= row["critical_difference"])

    # Key order for readers of the JSON: identity, test accuracy, comparison, curves, seeds.
    order = [
        "name", "rank", "is_best", "tied_with_best", "n_seeds", "seeds", "diverged",
        "missing_seeds", "single_sample", "test_acc_mean", "test_acc_std", "ci_low",
        "ci_high", "test_acc_min", "test_acc_max", "n_shared", "comparable", "diff_mean",
        "diff_ci_low", "diff_ci_high", "critical_difference", "prob_improvement",
        "n_curves", "val_acc_final_mean", "auc_mean",
    ]
    for fraction in targets:
        key = _target_key(fraction)
        order += [f"target_{key}", f"reached_{key}", f"epochs_to_{key}", f"seconds_to_{key}"]
    order.append("per_seed")
    return [{k: row[k] for k in order} for row in ranked]


def accuracies(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[Hashable, float | None]]:
    """``{schedule: {seed: test accuracy}}`` back from :func:`rank`'s rows (``None``: diverged),
    e.g. for :func:`resolution` of a ranking."""
    return {r["name"]: {p["seed"]: p["test_acc"] for p in r["per_seed"]} for r in rows}


def rank_trials(labels: Sequence[str], trials, n_test: int | None = None) -> list[dict[str, Any]]:
    """:func:`rank` over trials given one by one: ``labels`` (every schedule, in order) and
    ``trials``, an iterable of ``(label, seed, status, test_acc, epochs)`` with ``status`` a
    trial status (``running`` and ``failed`` ones are left out, and so are ended ones with no
    ``test_acc``; ``diverged`` ones count as diverged) and
    ``epochs`` the per-epoch dicts holding ``val_acc`` and ``seconds``. What ``lrlab compare``
    and the report both rank; ``n_test``: the test set's size (see :func:`rank`).

    >>> e = [{"val_acc": 0.5, "seconds": 1.0}]
    >>> rows = rank_trials(["a", "b"], [("a", 0, "finished", 0.5, e), ("b", 0, "running", None, [])])
    >>> [(r["name"], r["n_seeds"]) for r in rows]
    [('a', 1), ('b', 0)]
    """
    test: dict[str, dict] = {label: {} for label in labels}
    val: dict[str, dict] = {label: {} for label in labels}
    secs: dict[str, dict] = {label: {} for label in labels}
    for label, seed, status, test_acc, epochs in trials:
        if status in ("running", "failed"):  # not ended: no result to rank
            continue
        if test_acc is None and status != "diverged":  # ended with nothing to rank (a
            continue                                   # regression, a loss-only trainer)
        test[label][seed] = test_acc if status != "diverged" else None
        val[label][seed] = [e["val_acc"] for e in epochs]
        secs[label][seed] = [e["seconds"] for e in epochs]
    if not test:
        return []
    has_acc = any(v is not None for row in val.values() for vs in row.values() for v in vs)
    return rank(test, val if has_acc else None, secs if has_acc else None, n_test=n_test)


def tuning_curve(scores: Sequence[float], level: float = 0.9) -> list[dict[str, float]]:
    """The best score among ``k`` trials drawn at random from ``scores`` (without replacement),
    for ``k = 1 .. n``: its expectation and its central ``level`` interval, exact (no
    resampling): with the scores sorted ``s_1 <= ... <= s_n``, the best of ``k`` is ``s_i`` with
    probability ``C(i-1, k-1) / C(n, k)`` (the expected validation performance of Dodge et al.,
    2019, "Show your work"). A non-finite score (a diverged trial) counts as the lowest finite
    one. Where the curve still climbs at ``k = n``, more trials would still find better
    configurations: a ranking read there depends on the tuning budget.

        >>> [round(r["mean"], 4) for r in tuning_curve([0.1, 0.3, 0.2])]
        [0.2, 0.2667, 0.3]
        >>> tuning_curve([0.1, 0.3, 0.2])[1]["low"], tuning_curve([0.1, 0.3, 0.2])[1]["high"]
        (0.2, 0.3)
    """
    import numpy as np

    if not 0 < level < 1:
        raise ValueError(f"level must be a number in (0, 1), got {level!r}")
    finite = [float(s) for s in scores if s is not None and math.isfinite(s)]
    if not finite:
        return []
    floor = min(finite)
    s = sorted(float(x) if x is not None and math.isfinite(x) else floor for x in scores)
    n, tail = len(s), (1 - level) / 2
    out = []
    for k in range(1, n + 1):
        total = math.comb(n, k)
        p = [math.comb(i, k - 1) / total for i in range(n)]  # P(best of k = s[i])
        cdf = np.cumsum(p)
        low = s[int(np.searchsorted(cdf, tail - 1e-12))]
        high = s[min(n - 1, int(np.searchsorted(cdf, 1 - tail - 1e-12)))]
        out.append({"k": k, "mean": float(np.dot(p, s)), "low": low, "high": high})
    return out


def validation_score(status: str, epochs: Sequence[Mapping[str, Any]]) -> float:
    """What ``lrlab tune`` chooses on (higher is better): a trial's last epoch's ``val_acc``,
    or ``-val_loss`` where there is no accuracy; ``-inf`` for a diverged or failed trial, or
    one without either. Validation only: the test metrics never choose.

        >>> validation_score("finished", [{"val_acc": 0.9}, {"val_acc": 0.8, "val_loss": 0.5}])
        0.8
        >>> validation_score("diverged", [{"val_acc": 0.9}])
        -inf
    """
    if status in ("diverged", "failed") or not epochs:
        return -math.inf
    last = epochs[-1]
    value = last.get("val_acc")
    if value is None and last.get("val_loss") is not None:
        value = -last["val_loss"]
    return -math.inf if value is None or not math.isfinite(value) else float(value)
