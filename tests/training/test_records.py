"""Records: status values, summaries, the base sink that keeps nothing."""

import json

import pytest

from lrlab.training.records import RecordSink, TrialRecord, TrialStatus


def test_status_is_plain_text_in_json_and_checked():
    r = TrialRecord("a", {}, "early-stopped")
    assert r.status is TrialStatus.EARLY_STOPPED
    assert json.loads(json.dumps(r.summary()))["status"] == "early-stopped"
    with pytest.raises(ValueError):
        TrialRecord("a", {}, "exploded")


def test_summary():
    r = TrialRecord("a", {}, "finished", epochs=[{}, {}], test_acc=0.5, seconds=1.23456)
    assert r.summary() == {"name": "a", "status": "finished", "test_acc": 0.5, "test_loss": None,
                           "best_epoch": None, "diverged_step": None, "epochs": 2, "seconds": 1.235}


def test_the_base_sink_keeps_and_resumes_nothing():
    s = RecordSink()
    assert s.prepare(None, None, resume=True) is None
    s.trial_started(None, None), s.step("a", 0, 0.1, 1.0), s.epoch("a", {})
    s.checkpoint("a", b"", 0, 0), s.trial_finished(None, None), s.commit()
