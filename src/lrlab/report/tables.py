"""The report's data, read from the store alone: ``load(out)`` reads ``out/results.sqlite``
through the store's ``Reader`` (read-only and checked, plain ``sqlite3``, no torch; a damaged
store is one line, never rendered) in one snapshot, groups the trials by schedule label
(trial names are ``<label>-seed<N>``; the experiment's definition in ``meta`` gives the
labels and seeds), marks what has not finished, and ranks the finished trials with
:func:`lrlab.stats.rank`, as ``lrlab compare`` does.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..experiments.spec import TUNING_NAME
from ..experiments.store import Reader, TrialRow, read_fingerprint
from .. import stats


@dataclass
class Trial(TrialRow):
    """A trial row of the store with what the report adds: its label and seed (from its name),
    its ``epochs`` (metrics per epoch), which test examples its final model gets right
    (``test_hits``, a bool array) and why a failed trial failed (``error``)."""

    label: str = ""
    seed: int = 0
    epochs: list[dict[str, Any]] = field(default_factory=list)
    test_hits: Any = None
    error: str | None = None


@dataclass
class ReportData:
    """Everything the report shows, as plain data."""

    out: Path
    meta: dict[str, str]
    definition: dict[str, Any]         # the experiment's definition (may be reconstructed)
    labels: list[str]
    seeds: list[int]
    entries: dict[str, dict]           # label -> {"name", "params", "label", "interval"}
    trials: dict[tuple[str, int], Trial]  # (label, seed) -> the trial, when it exists
    ranking: list[dict[str, Any]]
    lrs: dict[str, tuple[int, list[float]]]  # label -> (seed, LR of every step)
    fingerprint: tuple = ()            # the store's state when read (store.fingerprint)
    tune: dict | None = None           # lrlab tune's definition, draws and seed (meta "tune")
    tuning: list[Trial] = field(default_factory=list)  # its tuning trials, epochs filled
    resolution: dict[str, Any] = field(default_factory=dict)  # stats.resolution of the ranking

    @property
    def n_test(self) -> int | None:
        """The test set's size: recorded by ``compare``, else the length of a trial's
        per-example results, else None (``stats.rank`` then infers a lower bound)."""
        value = self.meta.get("test_size")
        if value and value.isdigit() and int(value) > 0:
            return int(value)
        return next((len(t.test_hits) for t in self.trials.values() if t.test_hits is not None),
                    None)

    def trial(self, label: str, seed: int) -> Trial | None:
        return self.trials.get((label, seed))

    def test_noise(self, label: str, best: str) -> dict[str, Any]:
        """``stats.test_set_noise`` of ``label`` against ``best`` over the seeds both have
        per-example test results for."""
        pairs = [(self.trials[(label, s)].test_hits, self.trials[(best, s)].test_hits)
                 for s in self.seeds if (label, s) in self.trials and (best, s) in self.trials]
        pairs = [(a, b) for a, b in pairs if a is not None and b is not None and len(a) == len(b)]
        return stats.test_set_noise([a for a, _ in pairs], [b for _, b in pairs])

    def ran_as(self, label: str) -> str:
        """The concrete schedule a label's trials ran (its parameters resolved for the run),
        from its first stored trial; "–" before any started."""
        t = next((self.trials[(label, s)] for s in self.seeds if (label, s) in self.trials), None)
        return t.resolved if t is not None and t.resolved else "–"

    def state(self, label: str, seed: int) -> str:
        """``finished``, ``early-stopped``, ``diverged``, ``failed``, ``running`` or
        ``not started``."""
        t = self.trial(label, seed)
        return "not started" if t is None else t.status

    @property
    def missing(self) -> list[tuple[str, int, str]]:
        """``(label, seed, state)`` of every trial of the definition that has not ended."""
        return [(label, s, self.state(label, s)) for label in self.labels for s in self.seeds
                if self.state(label, s) in ("running", "failed", "not started")]

    @property
    def total(self) -> int:
        return len(self.labels) * len(self.seeds)

    @functools.cached_property
    def tuned(self) -> dict[str, dict[str, Any]]:
        """Per schedule label, its tuning: ``{"rungs": {epochs: [(draw, score)]}, "epochs":
        epochs trained}`` (scores: ``stats``-ready, validation only)."""
        out: dict[str, dict[str, Any]] = {}
        for t in self.tuning:
            label, draw, epochs, _ = TUNING_NAME.fullmatch(t.name).groups()
            entry = out.setdefault(label, {"rungs": {}, "epochs": 0})
            entry["rungs"].setdefault(int(epochs), []).append(
                (int(draw), stats.validation_score(t.status, t.epochs)))
            entry["epochs"] += t.config.get("epochs", 0)
        for entry in out.values():
            entry["rungs"] = {k: sorted(v) for k, v in sorted(entry["rungs"].items())}
        return out

    @property
    def first_config(self) -> dict:
        """The full configuration of a trial (defaults filled in), or ``{}``."""
        return next((t.config for t in self.trials.values()), {})


def changed(data: ReportData) -> bool:
    """Whether the store in ``data.out`` was written since ``data`` was read."""
    return read_fingerprint(data.out) != data.fingerprint


def _tune(meta: dict[str, str]) -> dict | None:
    """``lrlab tune``'s record in ``meta`` (None without one, or when it is not readable)."""
    try:
        tune = json.loads(meta["tune"])
        ok = isinstance(tune.get("seed"), int) and isinstance(tune.get("definition"), dict)
        return tune if ok else None
    except (KeyError, ValueError, TypeError, AttributeError):
        return None


def _label(name: str) -> tuple[str, int | None]:
    label, sep, seed = name.rpartition("-seed")
    return (label, int(seed)) if sep and seed.isdigit() else (name, None)


def _matches(entry: dict, config: dict) -> bool:
    """Whether a trial's configuration is the definition entry's (schedule, params, interval)."""
    return (config.get("schedule") == entry.get("name")
            and (config.get("params") or {}) == (entry.get("params") or {})
            and (entry.get("interval") is None or config.get("interval") == entry["interval"]))


def load(out: str | Path, store=None) -> ReportData:
    """Read the store in ``out`` into a ``ReportData`` (see the module docstring); ``store``:
    the caller's open ``Store`` of ``out``, read through its own connection."""
    import numpy as np

    with (store.reader() if store is not None else Reader.open(out)) as r:
        version = r.fingerprint()
        meta = r.meta()
        definition = json.loads(meta["experiment"]) if "experiment" in meta else None
        all_trials = []
        for row in r.trials():
            label, seed = _label(row.name)
            all_trials.append(Trial(**vars(row), label=label,
                                    seed=row.config.get("seed", seed) if seed is None else seed))
        if definition is None:  # a store without its definition: what the trials say
            labels = list(dict.fromkeys(t.label for t in all_trials))
            seeds = sorted({t.seed for t in all_trials})
            entries = {t.label: {"name": t.config.get("schedule"), "params": t.config.get("params"),
                                 "label": t.label, "interval": t.config.get("interval")}
                       for t in all_trials}
            first = all_trials[0].config if all_trials else {}
            definition = {"task": None, "schedules": list(entries.values()), "seeds": seeds,
                          **{k: first[k] for k in ("optimizer", "lr", "batch_size", "epochs")
                             if k in first}}
        else:
            entries = {e["label"]: e for e in definition.get("schedules", [])}
            labels = list(entries)
            seeds = list(definition.get("seeds", []))
        trials: dict[tuple[str, int], Trial] = {}
        for t in all_trials:  # the exact configuration wins over a same-named older trial
            if t.label not in entries or t.seed not in seeds:
                continue
            key = (t.label, t.seed)
            if key not in trials or (_matches(entries[t.label], t.config)
                                     and not _matches(entries[t.label], trials[key].config)):
                trials[key] = t
        tune = _tune(meta)
        tuning = [t for t in all_trials if tune is not None and t.config.get("seed") == tune["seed"]
                  and TUNING_NAME.fullmatch(t.name)]
        for t in tuning:
            t.epochs = r.epochs(t.id)
        examples, errors = r.examples("test"), r.failures()
        for t in trials.values():
            t.epochs = r.epochs(t.id)
            t.error = errors.get(t.id)
            if t.id in examples:
                n, hits = examples[t.id]
                t.test_hits = np.unpackbits(np.frombuffer(hits, np.uint8), count=n).astype(bool)
        lrs = {}
        for label in labels:
            t = next((trials[(label, s)] for s in seeds if (label, s) in trials), None)
            if t is not None:
                lrs[label] = (t.seed, r.lrs(t.id))
    data = ReportData(Path(out), meta, definition, labels, seeds, entries, trials, [], lrs, version,
                      tune=tune, tuning=tuning)
    data.ranking = ranking(data)
    data.resolution = stats.resolution(stats.accuracies(data.ranking), n_test=data.n_test)
    return data


def ranking(data: ReportData) -> list[dict[str, Any]]:
    """``stats.rank_trials`` over the ended trials, grouped by label (as ``lrlab compare``
    ranks)."""
    return stats.rank_trials(data.labels, ((label, seed, t.status, t.test_acc, t.epochs)
                                           for (label, seed), t in data.trials.items()),
                             n_test=data.n_test)
