"""The vectorised engine: every trial of a population trained at once.

The trials' models are stacked into one ``Population`` (``population.py``): per optimizer step
one forward and one backward for all of them, then one ``StackedOptimizer`` update in which
each trial has its own LR (from its own policy, as in the sequential engine), weight decay and
optimizer state. Each trial still sees its own seed's batches (``evaluate.batch_order`` of its
seed and epoch), starts from its seed's weights, and is validated every epoch (one batched
forward for the population); its policy, plateau and early stopping are its own. A trial that
diverges, stops early or ends leaves the population (its weights and optimizer state written
back to it, tested and recorded alone), so it stops costing compute.

Everything around the arithmetic is ``run.TrialRun``'s, as in the sequential engine: the same
sink calls, records, checkpoints (in torch's format: either engine resumes the other's) and
test. Results agree with the sequential engine up to floating-point summation order (grouped
convolutions and batched matmuls add in another order); LR sequences are identical.

Trials are stacked by batch size and optimizer, as many per population as ``ACTIVATIONS``
allows. A model that is not a chain of stackable layers (``population.chain``:
e.g. BatchNorm, dropout) is trained by the sequential engine instead, after one logged line
saying why.

    >>> from lrlab.training.tasks import load_task
    >>> from lrlab.training.trial import TrialConfig
    >>> recs = train_population(load_task("digits"), [TrialConfig(schedule=s, lr=0.05, epochs=2)
    ...                                                for s in ("cosine", "step")])
    >>> [(r.name, r.status.value, len(r.lrs)) for r in recs]
    [('cosine-seed0', 'finished', 38), ('step-seed0', 'finished', 38)]
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import torch

from ..evaluate import EVAL_BATCH, batch_order
from ..records import Progress, RecordSink, TrialRecord
from ..tasks import Split, Task
from ..trial import TrialConfig
from .population import Population, StackedOptimizer, Unstackable
from .run import TrialRun, prepare
from .sequential import train_run

logger = logging.getLogger(__name__)

MAX_POPULATION = 1024
"""Trials per population at most; more are trained as several populations, one after another."""

ACTIVATIONS = {"cpu": 48 * 2**20}
"""Bytes of activations a population may make per step, by device type (others: ``2**30``).
On a CPU a population whose step fits in the last-level cache runs fastest (digits' CNN, 2.8 MB
a trial: 15 trials per population beat 5 and 45), so larger comparisons run as several
populations; a small model (an MLP's 0.1 MB) trains hundreds at once."""

EVAL_ROWS = 4096
"""Examples x trials per evaluation batch (bounds the memory of a validation pass)."""


def train_population(task: Task, configs: Sequence[TrialConfig], sink: RecordSink | None = None,
                     *, resume: bool = False, device: str | torch.device = "cpu",
                     on_event: Callable[[Progress], None] | None = None) -> list[TrialRecord]:
    """Train every trial of ``configs`` on ``task`` as populations; records go to ``sink``
    (the arguments and results of ``sequential.train_population``)."""
    sink = sink if sink is not None else RecordSink()
    task, runs = prepare(task, configs, sink, resume, device)
    emit = on_event or (lambda e: None)
    groups: dict[tuple, list[TrialRun]] = {}
    for run in runs:
        if isinstance(run, TrialRun):
            groups.setdefault(_group(run.cfg), []).append(run)
    # a group of several trials computes as several even when one is left (after a resume
    # too): a trial's numbers do not depend on the others
    sizes = {key: sum(_group(c) == key for c in configs) for key in groups}
    reason = None
    for key, group in groups.items():
        if reason is None:
            models = [r.model for r in group[:2]]
            try:
                floats = Population(models).check(models, task.train.x[:2])
            except Unstackable as e:
                reason = str(e)
                logger.warning("vectorized engine: %s cannot be stacked (%s); training one "
                               "trial after another", type(models[0]).__name__, reason)
        if reason is not None:
            for run in group:
                train_run(task, run, sink, emit)
            continue
        budget = ACTIVATIONS.get(task.train.x.device.type, 2**30)
        size = max(1, min(MAX_POPULATION, budget // (floats * 4 * key[0] or 1)))
        size = -(-len(group) // -(-len(group) // size))  # as even as they come: 45 -> 15+15+15
        for i in range(0, len(group), size):
            chunk = group[i:i + size]
            _train(task, chunk, Population([r.model for r in chunk], min_size=min(sizes[key], 2)),
                   sink, emit)
    return [run.rec if isinstance(run, TrialRun) else run for run in runs]


def _group(cfg: TrialConfig) -> tuple[int, str]:
    """Trials of one population share this."""
    return cfg.batch_size, cfg.optimizer


def _train(task: Task, runs: list[TrialRun], pop: Population, sink: RecordSink,
           emit: Callable[[Progress], None]) -> None:
    """Train ``runs`` (stacked as ``pop``) to their ends."""
    opt = StackedOptimizer(runs[0].cfg.optimizer, pop, [r.cfg.weight_decay for r in runs],
                           [r.opt for r in runs], [r.model for r in runs])
    for run in runs:
        run.started(task, sink, emit)
    active = [r for r in runs if r.running]
    _leave(task, sink, pop, opt, [r for r in runs if not r.running], runs)
    active = _keep(pop, opt, runs, active)
    n, size = len(task.train), runs[0].cfg.batch_size
    data = task.train
    while active:
        t_epoch = time.perf_counter()
        orders: dict[tuple[int, int], torch.Tensor] = {}
        order = torch.stack([orders.setdefault((r.cfg.seed, r.epoch), batch_order(n, r.cfg.seed, r.epoch))
                             for r in active]).to(data.x.device)
        sums = [0.0] * len(active)
        correct = torch.zeros(len(active), dtype=torch.long, device=data.x.device)
        for start in range(0, n, size):
            idx = order[:, start:start + size]
            x, y = data.x[idx], data.y[idx]
            lrs = [r.lr() for r in active]
            out = pop(x)
            losses = task.losses(out, y)
            values = losses.tolist()
            ok = [r.record_step(sink, lr, v) for r, lr, v in zip(active, lrs, values)]
            if not all(ok):  # diverged: they end with the weights of this step, not updated
                gone = [r for r, good in zip(active, ok) if not good]
                _leave(task, sink, pop, opt, gone, active)
            losses.sum().backward()
            opt.step(lrs)
            pop.zero_grad()
            for i, v in enumerate(values):
                sums[i] += v * idx.shape[1]
            hits = task.corrects(out.detach(), y)
            if hits is not None:
                correct += hits
            if not all(ok):
                keep = [i for i, good in enumerate(ok) if good]
                active = _keep(pop, opt, active, [active[i] for i in keep])
                sums = [sums[i] for i in keep]
                correct, order = correct[keep], order[keep]
            if not active:
                return
        val = _evaluate(pop, task, task.val)
        seconds = time.perf_counter() - t_epoch
        hits = correct.tolist()
        for i, run in enumerate(active):
            _write_back(pop, opt, i, run)
            run.end_epoch(task, sink, sums[i], hits[i], val[0][i], val[1][i], seconds)
        gone = [r for r in active if not r.running]
        for run in gone:
            run.finish(task, sink)
        active = _keep(pop, opt, active, [r for r in active if r.running])


def _write_back(pop: Population, opt: StackedOptimizer, row: int, run: TrialRun) -> None:
    """Trial ``row``'s weights and optimizer state into ``run``'s model and torch optimizer."""
    pop.write(row, run.model)
    opt.write(row, run.opt, run.model, run.rec.lrs[-1] if run.rec.lrs else run.cfg.lr)


def _leave(task: Task, sink: RecordSink, pop: Population, opt: StackedOptimizer,
           gone: list[TrialRun], active: list[TrialRun]) -> None:
    """Finish the trials ``gone`` (rows of ``active``) with their current weights."""
    for run in gone:
        _write_back(pop, opt, active.index(run), run)
        run.finish(task, sink)


def _keep(pop: Population, opt: StackedOptimizer, active: list[TrialRun],
          keep: list[TrialRun]) -> list[TrialRun]:
    """Drop from the population the rows of ``active`` not in ``keep``; ``keep``."""
    if len(keep) < len(active):
        rows = [active.index(r) for r in keep]
        if rows:
            pop.keep(rows)
            opt.keep(rows)
    return keep


@torch.no_grad()
def _evaluate(pop: Population, task: Task, split: Split) -> tuple[list[float], list[float | None]]:
    """Each trial's mean loss and accuracy (None for regression) on ``split``."""
    t = pop.size
    rows = max(1, min(EVAL_BATCH, EVAL_ROWS // t))
    total = torch.zeros(t, dtype=torch.float64, device=split.x.device)
    correct = torch.zeros(t, dtype=torch.long, device=split.x.device)
    for i in range(0, len(split), rows):
        x, y = split.x[i:i + rows], split.y[i:i + rows]
        out = pop(x.expand(t, *x.shape))
        ys = y.expand(t, *y.shape)
        total += task.losses(out, ys).double() * len(y)
        hits = task.corrects(out, ys)
        if hits is not None:
            correct += hits
    losses = (total / len(split)).tolist()
    accs = ((correct.double() / len(split)).tolist() if task.kind == "classification"
            else [None] * t)
    return losses, accs
