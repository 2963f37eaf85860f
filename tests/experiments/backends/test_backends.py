"""Units of work, the relay sink, the driver applying its messages, and the memory a retried
unit restarts from: what reaches the store through a relay is what the engine wrote into the
store directly, and a unit restarted from the memory ends as an uninterrupted one."""

from __future__ import annotations

import sys

import pytest

from lrlab.experiments.backends import Job, Memory, Relay, apply, parse_resources, run_backend, units
from lrlab.experiments.store import Store
from lrlab.training.engines import train_population
from lrlab.training.plan import make_plan
from lrlab.training.records import Resume, TrialRecord
from lrlab.training.trial import TrialConfig


def _cfgs():
    return [TrialConfig(schedule=s, lr=0.1, epochs=3, seed=k, name=f"{s}-{k}")
            for s in ("cosine", "step") for k in (0, 1)]


class _Stop(Exception):
    pass


def _relayed(small, out, plans, stop_after=None, memory=None):
    """Train ``plans`` through a relay into the store in ``out`` (the driver's side: prepare,
    apply); ``stop_after``: the unit dies after that many messages; ``memory`` keeps them too."""
    sent = []
    with Store(out) as store:
        starts = {p.cfg.name: store.prepare(p.cfg, small) for p in plans}
        if memory is not None:
            starts = memory.starts()

        def send(calls):
            apply(store, calls, {p.cfg.name: p for p in plans}, small)
            if memory is not None:
                memory.apply(calls)
            sent.append(calls)
            if stop_after is not None and len(sent) == stop_after:
                raise _Stop

        relay = Relay(starts, send)
        try:
            train_population(small, plans, relay, on_event=relay.emit)
            relay.commit()
        except _Stop:
            pass
    return sent


def test_what_a_relay_sends_is_what_the_engine_writes_directly(small, tmp_path, rows):
    plans = [make_plan(c, len(small.train)) for c in _cfgs()]
    with Store(tmp_path / "direct") as store:
        train_population(small, plans, store)
    sent = _relayed(small, tmp_path / "relayed", plans)
    assert rows.tables(tmp_path / "relayed") == rows.tables(tmp_path / "direct")
    assert len(sent) == 3  # one message per population epoch: 3 epochs of one population of 4
    assert {c[0] for m in sent for c in m} == {"trial_started", "step", "epoch", "checkpoint",
                                                "trial_finished", "event"}


def test_a_unit_restarted_from_the_memory_ends_as_an_uninterrupted_one(small, tmp_path, rows):
    plans = [make_plan(c, len(small.train)) for c in _cfgs()]
    with Store(tmp_path / "whole") as store:
        train_population(small, plans, store)
    configs = {p.cfg.name: p.cfg.to_dict() for p in plans}
    memory = Memory({p.cfg.name: None for p in plans}, configs)
    _relayed(small, tmp_path / "cut", plans, stop_after=2, memory=memory)
    starts = memory.starts()
    assert all(isinstance(s, Resume) and (s.step, s.epoch) == (2 * 5, 2) for s in starts.values())
    with Store(tmp_path / "cut") as store:  # the memory says what the store would
        for p in plans:
            kept = store.prepare(p.cfg, small)
            assert (kept.blob, kept.step, kept.epoch) == (starts[p.cfg.name].blob, 10, 2)
            assert kept.record.lrs == starts[p.cfg.name].record.lrs
            assert kept.record.epochs == starts[p.cfg.name].record.epochs
    _relayed(small, tmp_path / "cut", plans, memory=memory)  # the retry, from the memory
    assert rows.tables(tmp_path / "cut") == rows.tables(tmp_path / "whole")
    assert all(isinstance(s, TrialRecord) and s.status == "finished"
               for s in memory.starts().values())


def test_units_are_the_vectorised_populations_or_single_trials(small):
    cfgs = [TrialConfig(schedule="cosine", seed=k, name=f"t{k}") for k in range(45)]
    plans = [make_plan(c, len(small.train)) for c in cfgs]
    sizes = lambda us: [len(u) for u in us]  # noqa: E731
    assert sizes(units(Job(plans, small))) == [15, 15, 15]
    assert sizes(units(Job(plans, small), workers=2)) == [11, 11, 11, 12]
    assert sorted(i for u in units(Job(plans, small), workers=2) for i in u) == list(range(45))
    assert sizes(units(Job(plans[:3], small), workers=4)) == [1, 1, 1]
    assert sizes(units(Job(plans, small, engine="sequential"))) == [1] * 45


@pytest.mark.parametrize("text, expect", [
    ("cpu=1", {"cpu": 1.0}), ("gpu=0.25,cpu=2", {"gpu": 0.25, "cpu": 2.0}), ("", {}),
    (None, {}), ("cpu=0.5", {"cpu": 0.5})])
def test_per_trial_resources(text, expect):
    assert parse_resources(text) == expect


@pytest.mark.parametrize("text", ["cpu", "cpu=x", "tpu=1", "cpu=1,cpu=2", "gpu=-1", "cpu=1.5",
                                  "cpu=nan"])
def test_per_trial_resources_refused_in_one_line(text):
    with pytest.raises(ValueError, match="^per_trial: "):
        parse_resources(text)


@pytest.mark.parametrize("kw, says", [
    ({"backend": "dask"}, "backend must be one of local, ray, got 'dask'"),
    ({"address": "auto"}, "address: where a Ray cluster is; give it with backend='ray'"),
    ({"per_trial": "gpu=1"}, "per_trial: gpu is for the ray backend"),
    ({"workers": 0}, "workers must be a whole number >= 1, got 0"),
    ({"backend": "ray", "workers": 2}, "workers: the local backend's"),
])
def test_backend_settings_refused_before_anything_runs(small, kw, says):
    with pytest.raises(ValueError, match=says.replace("(", r"\(").replace(")", r"\)")):
        run_backend(Job([], small), **kw)


def test_without_ray_the_ray_backend_names_the_extra(small, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    with pytest.raises(ValueError, match=r"^backend ray needs Ray: pip install 'lrlab\[ray\]'$"):
        run_backend(Job([], small), backend="ray")
