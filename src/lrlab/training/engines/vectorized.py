"""The vectorised engine: every trial of a population trained at once.

The trials' models are stacked into one ``Population`` (``population.py``) per epoch: per
optimizer step one forward and one backward for all of them, then one ``StackedOptimizer``
update in which each trial has its own LR (from its own policy, as in the sequential engine),
weight decay and optimizer state. Each trial still sees its own seed's batches
(``evaluate.batch_order`` of its seed and epoch), starts from its seed's weights, and is
validated every epoch (one batched forward for the population); its policy, plateau and early
stopping are its own. After every epoch each trial's weights and optimizer state go back to
its own model and torch optimizer (its checkpoint); a trial that stops early or ends is not in
the next epoch's population, so it stops costing compute; one that diverges keeps the weights
it had before its first non-finite loss (its row computes on, masked, to the end of the
epoch) and ends with them. An epoch runs without waiting for the device (see ``_epoch``).

Shapes are reproducible: the populations are fixed slices of the configs (finished trials
included), and an epoch's population has as many rows as trials of its slice train in that
epoch of an uninterrupted run, each trial in the row it has there (a resumed slice pads; see
``_train``). So a trial's numbers do not depend on a kill and a resume, even where a kernel's
summation order follows the shapes or a group's place among them.

Everything around the arithmetic is ``run.TrialRun``'s, as in the sequential engine: the same
sink calls, records, checkpoints (in torch's format: either engine resumes the other's) and
test. Results agree with the sequential engine up to floating-point summation order (grouped
convolutions and batched matmuls add in another order); LR sequences are identical.

Trials are stacked by batch size and optimizer, as many per population as ``ACTIVATIONS``
allows. A model that is not a chain of stackable layers and residual blocks of them
(``population.chain``: e.g. dropout) is trained by the sequential engine instead, after one
logged line saying why; BatchNorm stacks, each trial with its own running statistics.

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
from ..plan import Plan
from ..records import Progress, RecordSink, TrialRecord, TrialStatus
from ..tasks import Split, Task
from ..trial import TrialConfig
from .population import Population, StackedOptimizer, Unstackable
from .run import TrialRun, plans, prepare
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


def train_population(task: Task, configs: Sequence[TrialConfig | Plan],
                     sink: RecordSink | None = None, *, resume: bool = False,
                     device: str | torch.device = "cpu",
                     on_event: Callable[[Progress], None] | None = None) -> list[TrialRecord]:
    """Train every trial of ``configs`` on ``task`` as populations (``populations``); records
    go to ``sink`` (the arguments and results of ``sequential.train_population``)."""
    sink = sink if sink is not None else RecordSink()
    planned = plans(task, configs)
    task, runs = prepare(task, planned, sink, resume, device)
    emit = on_event or (lambda e: None)
    if not any(isinstance(r, TrialRun) for r in runs):
        return runs
    slices, reason = populations(task, planned)
    if reason is not None:
        logger.warning("vectorized engine: %s; training one trial after another", reason)
        for run in runs:
            if isinstance(run, TrialRun):
                train_run(task, run, sink, emit)
    for members in slices if reason is None else []:
        chunk = [runs[i] for i in members]
        if any(isinstance(r, TrialRun) for r in chunk):
            _train(task, chunk, sink, emit)
    return [run.rec if isinstance(run, TrialRun) else run for run in runs]


def populations(task: Task, plans: Sequence[Plan], workers: int = 1) -> tuple[list[list[int]], str | None]:
    """How the trials of ``plans`` are stacked: lists of indices into ``plans``, one per
    population, and None; or one list per trial and why the model cannot be stacked.

    Populations are fixed slices of the plans (finished trials included, so a resumed run
    stacks as the uninterrupted one did) of one batch size and optimizer, with as many trials
    each as ``ACTIVATIONS`` allows and sizes that differ by at most one (45 = 3 x 15); with
    ``workers`` > 1 their number is rounded up to a multiple of ``workers`` (as far as there
    are trials), so parallel workers get equal shares (45 on 2 workers: 11, 11, 11, 12; the
    ceiling's 12, 12, 12, 9 left one worker 24 trials and the other 21)."""
    device = task.train.x.device
    torch.manual_seed(0)
    models = [task.build_model().to(device) for _ in range(2)]
    try:
        floats = Population(models).check(models, task.train.x[:2].to(device))
    except Unstackable as e:
        return [[i] for i in range(len(plans))], f"{type(models[0]).__name__} cannot be stacked ({e})"
    groups: dict[tuple, list[int]] = {}
    for i, plan in enumerate(plans):
        groups.setdefault((plan.cfg.batch_size, plan.cfg.optimizer), []).append(i)
    budget = ACTIVATIONS.get(device.type, 2**30)
    slices = []
    for (batch_size, _), members in groups.items():
        size = max(1, min(MAX_POPULATION, budget // (floats * 4 * batch_size or 1)))
        count = -(-len(members) // size)
        count = min(len(members), -(-count // workers) * workers)
        cuts = [len(members) * k // count for k in range(count + 1)]  # sizes differ by <= 1
        slices += [members[a:b] for a, b in zip(cuts, cuts[1:])]
    return slices, None


def _present(rec: TrialRecord, epoch: int) -> bool:
    """Whether an uninterrupted run trains ``rec``'s trial (or carries it, diverged) in
    ``epoch``, by its record."""
    n = len(rec.epochs)
    return n > epoch or (n == epoch and rec.status in (TrialStatus.RUNNING, TrialStatus.DIVERGED))


def _train(task: Task, chunk: list[TrialRun | TrialRecord], sink: RecordSink,
           emit: Callable[[Progress], None]) -> None:
    """Train the unfinished trials of ``chunk`` to their ends, one population per epoch.

    The population of an epoch holds the trials of the chunk at that epoch, each in the row
    it has in an uninterrupted run then, among as many rows (``_present``; the others padded):
    a resumed chunk whose trials were checkpointed at different epochs first brings the ones
    behind level, in populations of the shape and places they had. So every step computes
    with the same shapes and places, and a kernel's summation order (which may follow them)
    is the same, killed and resumed or not."""
    runs = [r for r in chunk if isinstance(r, TrialRun)]
    records = [r.rec if isinstance(r, TrialRun) else r for r in chunk]
    for run in runs:
        run.started(task, sink, emit)
    stopped = [run for run in runs if not run.running]  # resumed trials that had stopped
    for run in stopped:
        run.finish(task, sink)
    if stopped:
        sink.commit()
    last: dict = {}
    while running := [r for r in runs if r.running]:
        epoch = min(r.epoch for r in running)
        present = [rec for rec in records if _present(rec, epoch)]
        now = [r for r in running if r.epoch == epoch]
        rows = [next(i for i, rec in enumerate(present) if rec is r.rec) for r in now]
        _epoch(task, now, (rows, len(present)), sink, last)


def _epoch(task: Task, runs: list[TrialRun], rows: tuple[list[int], int], sink: RecordSink,
           last: dict) -> None:
    """One epoch of ``runs`` (all at the same epoch) as one population in which run ``i`` has
    row ``rows[0][i]`` of ``rows[1]`` (the rows of an uninterrupted run at this epoch).

    Nothing waits for the device while the epoch runs: the LRs of its steps are known at its
    start (a policy changes only at the end of an epoch), losses stay on the device, and a
    trial whose loss turns non-finite is masked out of every later update there. At the end
    the steps are recorded, in order, as the sequential engine records them: a diverged trial
    ends at its first non-finite loss with the weights it had before that step. ``last``
    keeps the population and optimizer for the next epoch when its trials and rows stay."""
    t_epoch = time.perf_counter()
    dev = task.train.x.device
    key = ([id(r) for r in runs], rows)
    if last.get("key") == key:
        pop, opt = last["pop"], last["opt"]
    else:
        pop = Population([r.model for r in runs], *rows)
        opt = StackedOptimizer(runs[0].cfg.optimizer, pop, [r.cfg.weight_decay for r in runs],
                               [r.opt for r in runs], [r.model for r in runs])
        last.update(key=key, pop=pop, opt=opt)
    data, n, size = task.train, len(task.train), runs[0].cfg.batch_size
    starts = range(0, n, size)
    lrs = [[r.policy.lr(r.epoch, r.step + k) for r in runs] for k in range(len(starts))]
    opt.plan(lrs)
    orders: dict[int, torch.Tensor] = {}
    order = torch.stack([orders.setdefault(r.cfg.seed, batch_order(n, r.cfg.seed, r.epoch))
                         for r in runs]).to(dev)
    alive = torch.ones(len(runs), dtype=torch.bool, device=dev)
    losses = torch.empty(len(starts), len(runs), device=dev)
    correct = torch.zeros(len(runs), dtype=torch.long, device=dev)
    for k, start in enumerate(starts):
        idx = order[:, start:start + size]
        x, y = data.x[idx], data.y[idx]
        out = pop(x)
        loss = task.losses(out, y)
        losses[k] = loss.detach()
        alive &= losses[k].isfinite()
        loss.sum().backward()
        opt.step(k, alive)
        pop.zero_grad()
        hits = task.corrects(out.detach(), y)
        if hits is not None:
            correct += hits
    val_loss, val_acc = _evaluate(pop, task, task.val)
    seconds = time.perf_counter() - t_epoch
    table, hits = losses.tolist(), correct.tolist()
    for i, run in enumerate(runs):
        total = 0.0
        for k, start in enumerate(starts):
            if not run.record_step(sink, lrs[k][i], table[k][i]):
                break
            total += table[k][i] * min(size, n - start)
        _write_back(pop, opt, i, run)
        if run.rec.status == TrialStatus.RUNNING:
            run.end_epoch(task, sink, total, hits[i], val_loss[i], val_acc[i], seconds)
        if not run.running:
            run.finish(task, sink)
    sink.commit()  # the population's epoch: one durable write


def _write_back(pop: Population, opt: StackedOptimizer, row: int, run: TrialRun) -> None:
    """Trial ``row``'s weights and optimizer state into ``run``'s model and torch optimizer."""
    pop.write(row, run.model)
    opt.write(row, run.opt, run.model, run.rec.lrs[-1] if run.rec.lrs else run.cfg.lr)


@torch.no_grad()
def _evaluate(pop: Population, task: Task, split: Split) -> tuple[list[float], list[float | None]]:
    """Each trial's mean loss and accuracy (None for regression) on ``split`` (sums in Python
    floats per chunk, as ``evaluate.evaluate`` does)."""
    t = pop.size
    rows = max(1, min(EVAL_BATCH, EVAL_ROWS // pop.slots))  # the same chunks padded
    total, correct = [0.0] * t, [0] * t
    for i in range(0, len(split), rows):
        x, y = split.x[i:i + rows], split.y[i:i + rows]
        out = pop(x.expand(t, *x.shape), training=False)
        ys = y.expand(t, *y.shape)
        losses = task.losses(out, ys).tolist()
        hits = task.corrects(out, ys)
        hits = hits.tolist() if hits is not None else [0] * t
        for j in range(t):
            total[j] += losses[j] * len(y)
            correct[j] += hits[j]
    accs = [c / len(split) for c in correct] if task.kind == "classification" else [None] * t
    return [v / len(split) for v in total], accs
