"""The report: built from real small stores (``lrlab.experiments.runner.compare`` on a tiny
CSV task, 1-2 epochs); one row per schedule, escaping, partial stores, one seed, everything
diverged, self-contained, and (when Chromium is installed) rendered in a headless browser."""

import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from lrlab.report import write_report
from lrlab.report.tables import load

NASTY = "<b>&\"'"


def _table(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "t.csv"
    rows = [f"{(i * 37) % 100 / 100},{(i * 11) % 50 / 50},{'yes' if (i * 37) % 100 > 50 else 'no'}"
            for i in range(80)]
    path.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    return path


def _compare(tmp_path_factory, name, schedules, **kw) -> Path:
    from lrlab.experiments.runner import compare

    base = tmp_path_factory.mktemp(name)
    csv = _table(base / NASTY)
    out = base / "out"
    compare(f"csv:{csv}", schedules, out=out, batch_size=16, **kw)
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """3 schedules (one with a label and params) x 2 seeds x 2 epochs."""
    return _compare(tmp_path_factory, "full", ["cosine", "constant",
                                               {"name": "step", "params": {"gamma": 0.5},
                                                "label": "step-half"}], seeds=2, epochs=2)


@pytest.fixture(scope="module")
def report(store) -> str:
    return write_report(store).read_text(encoding="utf-8")


def _rows(page: str) -> list[str]:
    return re.findall(r'<tr class="schedule[^"]*" data-name="([^"]*)"', page)


def test_one_row_per_schedule_and_the_files(store, report):
    assert sorted(_rows(report)) == ["constant", "cosine", "step-half"]
    assert (store / "report.html").is_file()
    pngs = sorted(p.name for p in (store / "report").glob("*.png"))
    assert pngs == ["accuracy.png", "forest.png", "lr.png", "metrics.png"]
    assert report.count('src="data:image/png;base64,') == 4
    definition = json.loads((store / "report" / "experiment.json").read_text())
    assert [s["label"] for s in definition["schedules"]] == ["cosine", "constant", "step-half"]
    verdict = report.split('id="verdict">')[1].split("</div>")[0]
    assert ("Best group (" in verdict or "Best: " in verdict) and "Partial results" not in report
    assert "Winner" not in report and "equally good" not in verdict.replace(
        "This is not a finding that they are equally good", "")
    assert "pooled over all schedules" in verdict and "To resolve a smaller gap" in verdict
    assert re.search(r"The test set is a sample too: resampling its \d+ images", verdict)
    measures = report.split('id="measures"')[1].split("</table>")[0]
    assert "test-set noise of the gap" in measures and " pts</td>" in measures
    assert "Nothing was tuned" in report and "lrlab compare --config" in report


def test_self_contained_no_scripts_no_external_resources(report):
    assert "<script" not in report.lower()
    assert not re.search(r'(src|href)="(?!data:)', report)
    assert "http://" not in report and "https://" not in report


def test_every_user_string_is_escaped(report):
    assert NASTY not in report
    assert "&lt;b&gt;&amp;&quot;&#x27;" in report   # the task path, escaped
    assert "<b>" not in report


def test_the_ranking_is_the_one_compare_prints(store):
    from lrlab.experiments.runner import compare

    data = load(store)
    again = compare(data.definition["task"], data.definition["schedules"], out=store, seeds=2,
                    epochs=2, batch_size=16)
    strip = lambda rows: [{k: v for k, v in r.items() if "seconds" not in k and k != "per_seed"}  # noqa: E731
                          for r in rows]
    assert strip(data.ranking) == strip(again.ranking)


def _copy(store, folder):
    """A copy of the store's database in ``folder`` (to damage it without touching the fixture)."""
    folder.mkdir()
    shutil.copy(store / "results.sqlite", folder / "results.sqlite")
    return folder


def test_the_report_reads_the_store_alone_and_read_only(store, tmp_path):
    copy = _copy(store, tmp_path / "copy")
    (copy / "results.sqlite").chmod(0o444)
    page = write_report(copy).read_text()
    assert sorted(_rows(page)) == ["constant", "cosine", "step-half"]


def test_a_partial_store_still_reports_and_marks_what_is_missing(store, tmp_path):
    part = _copy(store, tmp_path / "part")
    db = sqlite3.connect(part / "results.sqlite")
    db.execute("UPDATE trial SET status = 'running', test_acc = NULL WHERE name = 'cosine-seed1'")
    tid = db.execute("SELECT id FROM trial WHERE name = 'constant-seed1'").fetchone()[0]
    for table in ("step", "epoch", "example"):
        db.execute(f"DELETE FROM {table} WHERE trial_id = ?", (tid,))
    db.execute("DELETE FROM trial WHERE id = ?", (tid,))
    db.commit()
    db.close()
    page = write_report(part).read_text()
    assert sorted(_rows(page)) == ["constant", "cosine", "step-half"]
    assert "Partial results" in page and "2 of 6 trials have not ended" in page
    assert "cosine-seed1: running" in page and "constant-seed1: not started" in page
    assert "1/2 <span class=\"missing\">(missing: seed 1: running)" in page
    assert "This store is partial: 4 of 6 trials have ended" in page


def test_a_store_without_its_definition_groups_the_trials_by_name(store, tmp_path):
    bare = _copy(store, tmp_path / "bare")
    db = sqlite3.connect(bare / "results.sqlite")
    db.execute("DELETE FROM meta WHERE key = 'experiment'")
    db.commit()
    db.close()
    page = write_report(bare).read_text()
    assert sorted(_rows(page)) == ["constant", "cosine", "step-half"]
    assert "Best group (" in page or "Best: " in page


def test_one_seed_says_the_ranking_is_a_single_sample(tmp_path_factory):
    out = _compare(tmp_path_factory, "one", ["cosine", "constant"], seeds=1, epochs=1)
    page = write_report(out).read_text()
    assert sorted(_rows(page)) == ["constant", "cosine"]
    assert "One seed per schedule: " in page and "no verdict" in page
    assert "Best" not in page.split('id="verdict">')[1].split("</div>")[0]
    assert "single sample" in page.split('id="ranking"')[1].split("</table>")[0]


def test_everything_diverged(tmp_path_factory):
    out = _compare(tmp_path_factory, "div", ["constant", "cosine"], seeds=1, epochs=1, lr=1e6)
    page = write_report(out).read_text()
    assert sorted(_rows(page)) == ["constant", "cosine"]
    assert "Every trial diverged" in page
    assert "Best" not in page.split('id="verdict">')[1].split("</div>")[0]
    assert page.count('src="data:image/png;base64,') == 4


def test_no_store_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no results.sqlite here"):
        write_report(tmp_path)
    (tmp_path / "results.sqlite").write_text("not a database, not at all" * 50)
    with pytest.raises(ValueError, match="not an lrlab store"):
        write_report(tmp_path)


# ---- the browser check ---------------------------------------------------------------------------
_CHROMIUM = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--hide-scrollbars"]
_PROBE = """<script>
window.addEventListener("load", function () {
  var out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({
    images: Array.from(document.images).map(function (i) {
      return {id: i.id, complete: i.complete, width: i.naturalWidth}; }),
    rows: document.querySelectorAll("#ranking tbody tr").length,
    measures: document.querySelectorAll("#measures tbody tr").length,
    verdict: document.getElementById("verdict").textContent,
    fits: Array.from(document.querySelectorAll(".scroll")).every(function (d) {
      return d.scrollWidth <= d.clientWidth; }),
    width: document.body.scrollWidth});
  document.body.appendChild(out);
});
</script>"""


def _chromium() -> str:
    for name in _CHROMIUM:
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no chromium binary found (apt-get install chromium): the browser check skips")


def test_the_report_renders_in_headless_chromium(store, report, tmp_path):
    browser = _chromium()
    # a copy of the page with a probe that writes what the browser loaded into the DOM
    probe = tmp_path / "probe.html"
    probe.write_text(report.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    flags = [browser, *_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
             "--virtual-time-budget=10000"]
    try:
        dom = subprocess.run([*flags, "--dump-dom", probe.as_uri()], capture_output=True,
                             text=True, timeout=600)
    except subprocess.TimeoutExpired:
        pytest.fail("chromium did not answer within 120 s")
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.S)
    assert found, (dom.returncode, dom.stderr[-2000:])
    import html

    seen = json.loads(html.unescape(found.group(1)))
    assert len(seen["images"]) == 4
    assert all(i["complete"] and i["width"] > 0 for i in seen["images"]), seen["images"]
    assert seen["rows"] == 3 == len(_rows(report)) == seen["measures"]
    assert "Best" in seen["verdict"] and "cannot be told apart" in seen["verdict"] or \
        "resolved below it" in seen["verdict"]
    assert "Winner" not in seen["verdict"]
    wide = subprocess.run([*flags, "--window-size=1280,2400", "--dump-dom", probe.as_uri()],
                          capture_output=True, text=True, timeout=600)
    fit = json.loads(html.unescape(re.search(r'<pre id="probe">(.*?)</pre>', wide.stdout, re.S).group(1)))
    assert fit["fits"] and fit["width"] <= 1280, fit  # the tables fit a 1280-pixel window
    shot = tmp_path / "report.png"
    subprocess.run([*flags, "--window-size=1280,2400", f"--screenshot={shot}",
                    (store / "report.html").as_uri()], capture_output=True, timeout=600)
    assert shot.is_file() and shot.stat().st_size > 10_000


def test_a_report_of_a_store_that_changes_under_a_running_compare_never_replaces_the_final_one(
        store, tmp_path, monkeypatch):
    import lrlab.report.html as html
    from lrlab.experiments.lock import OutputFolder

    out = _copy(store, tmp_path / "racing")
    real = html._files
    writes = {"n": 0}

    def compare_writes_meanwhile(data):  # a compare holding the folder writes the store
        files = real(data)
        if writes["n"] < writes["limit"]:
            writes["n"] += 1
            db = sqlite3.connect(out / "results.sqlite")
            text = db.execute("SELECT value FROM meta WHERE key = 'experiment'").fetchone()[0]
            db.execute("UPDATE meta SET value = ? WHERE key = 'experiment'",
                       (json.dumps(json.loads(text), indent=writes["n"]),))
            db.commit()
            db.close()
        return files

    monkeypatch.setattr(html, "_files", compare_writes_meanwhile)
    with OutputFolder(out) as running:
        running.claim()
        writes["limit"] = 100  # it never stops changing: nothing is written
        with pytest.raises(ValueError, match="kept changing while its report was written"):
            write_report(out)
        assert not (out / "report.html").exists() and not (out / "report").exists()
        writes["n"], writes["limit"] = 0, 1  # one change: read again, then written
        assert write_report(out).is_file() and writes["n"] == 1


def test_a_store_path_with_uri_characters_is_read_as_written(store, tmp_path):
    for name in ("c%41", "h#x", "q?mode=rw", "sp ace", "ünï"):
        copy = _copy(store, tmp_path / name)
        assert sorted(_rows(write_report(copy).read_text())) == ["constant", "cosine", "step-half"]


def test_two_labels_running_one_curve_are_named(tmp_path_factory):
    out = _compare(tmp_path_factory, "same", [
        {"name": "exponential", "label": "E"},
        {"name": "natural_exp", "label": "N"}, "cosine"], seeds=2, epochs=3)
    page = write_report(out).read_text()
    note = page.split('id="same-curves">')[1].split("</p>")[0]
    assert "N (same curve as E)" in note and "cosine" not in note
    ran = page.split('id="schedules"')[1].split("</table>")[0]
    assert "exponential(base_lr=0.05, gamma=0.01, step_size=3)" in ran  # what ran, never {}


def test_a_schedule_resolved_below_the_best_is_named_with_its_interval(tmp_path_factory):
    out = _compare(tmp_path_factory, "far", [
        "cosine", {"name": "constant", "label": "frozen", "params": {"base_lr": 1e-7}}],
        seeds=3, epochs=3)
    page = write_report(out).read_text()
    verdict = html_text(page.split('id="verdict">')[1].split("</div>")[0])
    assert "Best: cosine" in verdict and "Worse than the best: frozen by " in verdict
    assert "Underfit" in verdict and "simultaneous 95% interval" in verdict


def html_text(fragment: str) -> str:
    import html

    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


def test_a_tuned_store_says_what_was_searched_the_budget_and_that_test_data_chose_nothing(
        tmp_path, report):
    from lrlab.experiments.tune import tune

    csv = _table(tmp_path / NASTY)
    result = tune(f"csv:{csv}", ["cosine", {"name": "step", "label": "step-x"}], trials_per_schedule=3,
                  budget_rungs=2, epochs=3, seeds=2, batch_size=16, out=tmp_path / "t", report=True)
    page = result.evaluation.page.read_text()
    tuning = page[page.index("<h2>Tuning</h2>"):page.index("<h2>Trials</h2>")]
    assert "test data chose nothing" in tuning and "Nothing was tuned" not in page
    assert "every schedule trained 6 epochs in tuning" in tuning  # 3 x 1 + 1 x 3, from the store
    assert "gamma 0.05..0.7, step_size 10..50%" in tuning and "step-x" in tuning
    assert 'id="fig-tuning"' in tuning and (tmp_path / "t" / "report" / "tuning.png").is_file()
    assert "chosen on validation accuracy alone" in page
    assert "Nothing was tuned" in report and "Tuning</h2>" not in report  # an untuned compare
