"""The comparison report: ``write_report(out)`` reads the store ``out/results.sqlite`` alone
(:mod:`lrlab.report.tables`) and writes ``out/report.html`` plus its figures as PNG files in
``out/report/`` (and the experiment's definition, ``out/report/experiment.json``, which
reproduces it).

The page is self-contained: the figures are embedded as ``data:`` URIs, the style is inline,
there is no script and no external resource, so it opens offline and can be mailed as one
file. Every string that comes from the user or the store (labels, task paths, parameters) is
escaped with :func:`html.escape`. A partial store (trials still running or not started)
still reports; what is missing is marked in the table and listed.
"""

from __future__ import annotations

import base64
import html
import json
import math
import shlex
import sys
from pathlib import Path
from typing import Any

from .. import stats
from .tables import ReportData, changed, load

FIGURES = (("accuracy", "Test accuracy per schedule"),
           ("forest", "Paired difference to the best"),
           ("metrics", "Training curves"),
           ("lr", "Learning rate of every schedule"))
UNDERFIT_POINTS = 0.10  # a mean test accuracy this far below the best's counts as underfitting
_SETTINGS = (("optimizer", "optimizer"), ("lr", "reference LR"), ("batch_size", "batch size"),
             ("epochs", "epochs"), ("weight_decay", "weight decay"), ("warmup", "warmup"),
             ("early_stop", "early stopping"))


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _pct(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}%"


def _pts(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:+.2f} pts"


def _num(x: float | None, spec: str = ".2f") -> str:
    return "–" if x is None else format(x, spec)


def _value(v: Any) -> str:
    return "none" if v is None else json.dumps(v) if isinstance(v, (dict, list)) else str(v)


# ---- the words ------------------------------------------------------------------------------
def verdict(data: ReportData) -> list[str]:
    """A short plain-language verdict, computed from the ranking (plain text sentences)."""
    rows = data.ranking
    ranked = [r for r in rows if r["test_acc_mean"] is not None]
    out: list[str] = []
    done = data.total - len(data.missing)
    if data.missing:
        out.append(f"This store is partial: {done} of {data.total} trials have ended; "
                   f"{len(data.missing)} are still running or not started (marked below). "
                   f"The ranking uses the trials that ended.")
    if not ranked:
        if rows and all(r["diverged"] for r in rows) and not data.missing:
            out.append("Every trial diverged: no schedule reached a finite test accuracy. "
                       "The reference LR is probably too high for this task; try a lower --lr "
                       "(lrlab find-lr suggests one).")
        elif any(r["diverged"] for r in rows):
            out.append("No schedule has a finite test accuracy yet: every ended trial diverged.")
        elif done:
            metric = {"val_acc": "validation accuracy"}.get(
                data.definition.get("metric"), "test accuracy")
            out.append(f"Nothing to rank: the trials that ended have no {metric} (a regression "
                       f"or a loss-only trainer; ranking by a loss is not there yet). Their "
                       f"curves are below.")
        else:
            out.append("No trial has ended yet: there is nothing to rank.")
        return out
    best = ranked[0]
    out += words(ranked, data.resolution)
    diverged = [r for r in rows if r["diverged"]]
    if diverged:
        out.append("Diverged: " + ", ".join(
            f"{r['name']} ({r['diverged']} of {r['diverged'] + r['n_seeds']} seeds)"
            for r in diverged) + ".")
    halves = sorted(h for h in (data.test_noise(r["name"], best["name"])["half"]
                                for r in ranked[1:]) if h is not None)
    if halves:
        median = halves[len(halves) // 2]
        out.append(f"The test set is a sample too: resampling its {data.n_test} images would "
                   f"move a schedule's gap to the best by up to ±{100 * median:.2f} points "
                   f"(95%, the median over the schedules compared; paired over the "
                   f"images), apart from the seed-to-seed spread above: a gap below that says "
                   f"as much about these images as about the schedules.")
    under = [r for r in ranked[1:] if not r["tied_with_best"]
             and r["test_acc_mean"] < best["test_acc_mean"] - UNDERFIT_POINTS]
    if under:
        out.append("Underfit (mean test accuracy more than "
                   f"{100 * UNDERFIT_POINTS:.0f} points below the best): "
                   + ", ".join(f"{r['name']} ({_pct(r['test_acc_mean'])})" for r in under) + ".")
    return out


def words(ranked: list[dict[str, Any]], res: dict[str, Any]) -> list[str]:
    """The verdict in words, from the ranked rows (those with a finite mean) and the run's
    ``stats.resolution``: a best group and the critical difference, the schedules separated
    from it with their simultaneous intervals, what more seeds would resolve; without a noise
    estimate an ordering, its reason and no verdict. Never a claim that schedules are equally
    good, and never a sentence that disagrees with the rows."""
    best = next(r for r in ranked if r["is_best"])
    compared = [r for r in ranked if r["comparable"] and not r["is_best"]]
    if not compared:
        if len(ranked) == 1:
            return [f"Only {best['name']} has a finite test accuracy: there is nothing to "
                    f"compare it with."]
        why = ("One seed per schedule" if all(r["n_seeds"] <= 1 for r in ranked) else
               "No schedule shares 2 or more finished seeds with the best")
        return [f"{why}: {best['name']} scored highest ({_pct(best['test_acc_mean'])}), but "
                f"this ordering cannot be tested: there is no estimate of the noise of a "
                f"comparison, so no interval and no verdict. Run 3 or more seeds per schedule "
                f"(--seeds 3) to tell schedules apart."]
    group = [r for r in ranked if r["tied_with_best"] and r["comparable"]]  # the best included
    worse = [r for r in compared if not r["tied_with_best"]]
    apart = [r["name"] for r in ranked if not r["comparable"] and not r["is_best"]]
    n, cd = best["n_seeds"], best["critical_difference"]
    widest = max(r["critical_difference"] for r in group)
    method = (f"Tukey's studentised range over {res['k']} schedules, 5% family-wise, the "
              f"choice of the best included; noise {100 * res['sigma']:.2f} points per trial, "
              f"pooled over all schedules with seed effects removed")
    out = []
    if cd >= 1.0:
        out.append(f"This run cannot resolve any gap: with {n} seeds its critical difference "
                   f"exceeds 100 points ({method}). Run more seeds.")
    elif len(group) == 1:
        out.append(f"Best: {best['name']}, {_pct(best['test_acc_mean'])} mean test accuracy "
                   f"over {n} seeds; every other schedule compared is resolved below it "
                   f"({method}).")
    else:
        names = ", ".join(r["name"] for r in group[:12]) + (
            f" and {len(group) - 12} more" if len(group) > 12 else "")
        noisy = (f" (up to {100 * widest:.2f} for the noisiest pair)"
                 if widest > cd * 1.01 else "")
        out.append(f"Best group ({len(group)} of {len(compared) + 1} compared): {names}. They "
                   f"cannot be told apart at {n} seeds: gaps under {100 * cd:.2f} points{noisy} "
                   f"are not resolvable by this run ({method}). This is not a finding that they "
                   f"are equally good: a real gap smaller than that would look the same.")
    if worse:
        out.append("Worse than the best: " + "; ".join(
            f"{r['name']} by {-100 * r['diff_mean']:.2f} points "
            f"[{-100 * r['diff_ci_high']:.2f}, {-100 * r['diff_ci_low']:.2f}]"
            for r in worse) + " (gap to the best, simultaneous 95% interval).")
    if apart:
        out.append("Not compared (fewer than 2 finished seeds shared with the best): "
                   + ", ".join(apart) + ".")
    pooled = res.get("critical_difference")
    gaps = [g for g in (0.05, 0.02, 0.01, 0.005) if pooled and g < min(pooled, 1.0)][:3]
    said = []
    for gap in gaps:
        k, pts = stats.seeds_needed(gap, res), f"{100 * gap:.2g}"
        said.append(f"{pts} point{'s' * (pts != '1')}: " + (f"{k} seeds" if k else
                                                              "more than 200 seeds"))
    if said:
        out.append(f"To resolve a smaller gap with {100 * res['power']:.0f}% power (per schedule, "
                   f"now {n}): " + "; ".join(said) + ".")
    return out


def settings(data: ReportData) -> list[tuple[str, str]]:
    """What every trial shared: ``[(what, value)]``."""
    d, cfg = data.definition, data.first_config
    def code(ref: dict) -> str:  # the user's function: as named, and its file's digest
        return ref["ref"] + (f" (sha256 {ref['sha256'][:12]})" if ref.get("sha256") else "")

    if d.get("trainer"):
        out = [("trainer", code(d["trainer"])), ("steps per epoch", str(d.get("steps_per_epoch")))]
    else:
        model = d.get("model", "default")
        out = [("task", str(d.get("task") or "(not recorded)")),
               ("model", model if isinstance(model, str) else code(model))]
    if d.get("task_options"):
        out.append(("task options", _value(d["task_options"])))
    for key, name in _SETTINGS:
        if key in d:
            out.append((name, _value(d[key])))
        elif cfg.get(key) is not None:
            out.append((name, _value(cfg[key]) + " (default)"))
    out.append(("seeds", ", ".join(str(s) for s in data.seeds)))
    out.append(("ranked by", {"val_acc": "the validation accuracy of the last epoch"}.get(
        d.get("metric"), "the final test accuracy")))
    return out


def _flag_value(v: Any) -> str | None:
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str) and v and all(c.isalnum() or c in "._%+-" for c in v):
        return v
    return None


def config_data(definition: dict) -> dict:
    """The definition as a config file may hold it: without the code it names (the trainer,
    the user's model function), which goes on the command line (``code_flags``)."""
    return {k: v for k, v in definition.items()
            if k != "trainer" and not (k == "model" and isinstance(v, dict))}


def code_flags(definition: dict) -> list[str]:
    """``--trainer REF`` / ``--model REF`` for the code the definition names (its reference as
    given: a file path, or ``module:function`` for a function given to the Python API)."""
    return [f"{flag} {shlex.quote(definition[key]['ref'])}"
            for key, flag in (("trainer", "--trainer"), ("model", "--model"))
            if isinstance(definition.get(key), dict)] + (
        [f"--steps-per-epoch {definition['steps_per_epoch']}"] if definition.get("trainer") else [])


def commands(data: ReportData, config_path: str) -> list[str]:
    """Shell commands that rebuild this experiment: the config file's, and, where the
    definition is plain enough for flags (labels are schedule names, simple values), flags."""
    out_dir = shlex.quote(str(data.out))
    d = data.definition
    scripted = [d[k]["ref"] for k in ("trainer", "model") if isinstance(d.get(k), dict)
                and d[k]["ref"].partition(":")[0] in ("__main__", "__mp_main__")]
    if scripted:  # a function of the script that called lrlab.compare: no command names it
        return [f"# {scripted[0]} was given to lrlab.compare by a script: run that script again "
                f"(it continues this store), or name the function as FILE.py:FUNCTION with "
                f"lrlab compare --config {shlex.quote(config_path)} --out {out_dir}"]
    code = code_flags(d)
    cmds = [" ".join(["lrlab compare", *code, f"--config {shlex.quote(config_path)} --out {out_dir}"])]
    entries = d.get("schedules", [])
    names = [e.get("name") for e in entries]
    simple = (d.get("task") and not d.get("task_options") and len(set(names)) == len(names)
              and all(e.get("label") == e.get("name") and e.get("interval") is None
                      and all(_flag_value(v) is not None for v in (e.get("params") or {}).values())
                      for e in entries)
              and not isinstance(d.get("early_stop"), dict))
    if simple:
        parts = ["lrlab compare", "--task", shlex.quote(d["task"]), *code]
        if isinstance(d.get("model"), str) and d["model"] != "default":
            parts += ["--model", d["model"]]
        for e in entries:
            parts += ["--schedule", shlex.quote(e["name"])]
            parts += [f"-p {shlex.quote(e['name'] + '.' + k + '=' + _flag_value(v))}"
                      for k, v in (e.get("params") or {}).items()]
        parts += ["--seed", ",".join(str(s) for s in data.seeds)]
        for key, flag in (("optimizer", "--optimizer"), ("lr", "--lr"),
                          ("weight_decay", "--weight-decay"), ("batch_size", "--batch-size"),
                          ("epochs", "--epochs"), ("warmup", "--warmup")):
            if d.get(key) is not None:
                parts += [flag, shlex.quote(str(d[key]))]
        parts += ["--out", out_dir]
        cmds.append(" ".join(parts))
    return cmds


# ---- the figures ------------------------------------------------------------------------------
def figures(data: ReportData) -> dict[str, Any]:
    """The report's figures by name (``accuracy``, ``forest``, ``metrics``, ``lr``)."""
    from . import figures as F

    series = [(label, [data.trials[(label, s)].epochs for s in data.seeds
                       if (label, s) in data.trials]) for label in data.labels]
    curves = [(f"{label} (seed {data.lrs[label][0]})" if label in data.lrs else label,
               data.lrs.get(label, (None, []))[1]) for label in data.labels]
    out = {"accuracy": F.accuracy_figure(data.ranking), "forest": F.forest_figure(data.ranking),
           "metrics": F.metrics_figure(series, {r["name"] for r in data.ranking
                                                if r["tied_with_best"]} or None),
           "lr": F.lr_grid_figure(curves)}
    if data.tune:
        tuned = data.tuned
        first = min((b for t in tuned.values() for b in t["rungs"]), default=None)
        out["tuning"] = F.tuning_figure(
            [(label, stats.tuning_curve([s for _, s in tuned[label]["rungs"][first]]))
             for label in data.labels if label in tuned], first)
    return out


# ---- the page -----------------------------------------------------------------------------
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;
max-width:1200px;padding:0 16px;color:#1a202c}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #e2e8f0}
table{border-collapse:collapse;font-size:12.5px;margin:8px 0}
th,td{border:1px solid #e2e8f0;padding:3px 6px;text-align:right;vertical-align:top}
td{white-space:nowrap}
th{background:#f7fafc}td.l,th.l{text-align:left}
tr.tie td{background:#ebf8ff}tr.best td{font-weight:600}
.missing{color:#c05621}.note{color:#4a5568;font-size:12.5px}
.verdict{background:#f0fff4;border:1px solid #c6f6d5;padding:8px 14px}
.partial{background:#fffaf0;border:1px solid #fbd38d;padding:8px 14px}
img{max-width:100%;height:auto;display:block;margin:6px 0}
pre,code{background:#f7fafc;font-size:12px}pre{padding:8px;overflow-x:auto;white-space:pre-wrap}
.scroll{overflow-x:auto}
"""


def _ranking_table(data: ReportData) -> str:
    head = ["#", "schedule", "test acc (mean ± std)", "95% CI", "gap to best [simultaneous]",
            "verdict", "P(improve)", "diverged", "seeds ended"]
    second = ["schedule", "test-set noise of the gap (95%)", "best seed", "worst seed",
              "best val epoch", "train time", "epochs to 95% / 99%", "seconds to 95% / 99%",
              "val AUC"]
    best_label = next((r["name"] for r in data.ranking if r["is_best"]), None)
    out = ['<div class="scroll"><table id="ranking"><thead><tr>']
    out += [f'<th class="{"l" if h == "schedule" else ""}">{_e(h)}</th>' for h in head]
    out.append("</tr></thead><tbody>")
    more = ['<div class="scroll"><table id="measures"><thead><tr>']
    more += [f'<th class="{"l" if h == "schedule" else ""}">{_e(h)}</th>' for h in second]
    more.append("</tr></thead><tbody>")
    for r in data.ranking:
        label = r["name"]
        classes = ["schedule"] + (["tie"] if r["tied_with_best"] else []) + (
            ["best"] if r["is_best"] else [])
        states = {s: data.state(label, s) for s in data.seeds}
        unended = ("running", "failed", "not started")
        pending = [f"seed {s}: {st}" for s, st in states.items() if st in unended]
        ended = sum(st not in unended for st in states.values())
        seeds = f"{ended}/{len(data.seeds)}"
        if pending:
            seeds += f' <span class="missing">(missing: {_e("; ".join(pending))})</span>'
        finite = [p for p in r["per_seed"] if p["test_acc"] is not None]
        best_seed = max(finite, key=lambda p: p["test_acc"], default=None)
        worst_seed = min(finite, key=lambda p: p["test_acc"], default=None)
        trials = [data.trials[(label, s)] for s in data.seeds if (label, s) in data.trials
                  and data.trials[(label, s)].status not in ("running", "failed")]
        best_epochs = sorted({t.best_epoch + 1 for t in trials if t.best_epoch is not None})
        n_ep = max((t.n_epochs for t in trials), default=0)
        best_ep = ("–" if not best_epochs else
                   (str(best_epochs[0]) if len(best_epochs) == 1
                    else f"{best_epochs[0]}–{best_epochs[-1]}") + f" of {n_ep}")
        wall = (sum(t.seconds for t in trials) / len(trials)) if trials else None
        mean = _pct(r["test_acc_mean"])
        if r["test_acc_std"] is not None:
            mean += f" ± {100 * r['test_acc_std']:.2f}"
        ci = (f"{_pct(r['ci_low'])} – {_pct(r['ci_high'])}" if r["ci_low"] is not None
              else ("single sample" if r["single_sample"] else "–"))
        if r["is_best"]:
            diff = "best"
        else:
            diff = _pts(r["diff_mean"])
            if r["diff_ci_low"] is not None:
                diff += f" [{100 * r['diff_ci_low']:+.2f}, {100 * r['diff_ci_high']:+.2f}]"
        tie = ("best" if r["is_best"] else "best group" if r["tied_with_best"] else
               "worse" if r["test_acc_mean"] is not None else "–")
        if r["tied_with_best"] and not r["comparable"] and r["test_acc_mean"] is not None:
            tie = "no verdict (single sample)" if r["single_sample"] else "not compared"
        cells = [
            str(r["rank"]), f'<td class="l">{_e(label)}</td>', mean, ci, diff, tie,
            _num(r["prob_improvement"]), str(r["diverged"]), seeds]
        noise = (data.test_noise(label, best_label) if best_label and not r["is_best"]
                 else {"half": None})
        measures = [
            f'<td class="l">{_e(label)}</td>',
            "–" if noise["half"] is None else f"±{100 * noise['half']:.2f} pts",
            f"{best_seed['seed']}: {_pct(best_seed['test_acc'])}" if best_seed else "–",
            f"{worst_seed['seed']}: {_pct(worst_seed['test_acc'])}" if worst_seed else "–",
            best_ep, "–" if wall is None else f"{wall:.1f} s",
            f"{_num(r.get('epochs_to_95'), '.1f')} / {_num(r.get('epochs_to_99'), '.1f')}",
            f"{_num(r.get('seconds_to_95'), '.1f')} / {_num(r.get('seconds_to_99'), '.1f')}",
            _num(r["auc_mean"], ".3f"),
        ]
        out.append(f'<tr class="{" ".join(classes)}" data-name="{_e(label)}">')
        # every cell but the label is built from numbers and escaped pieces
        out += [c if c.startswith("<td") else f"<td>{c}</td>" for c in cells]
        out.append("</tr>")
        more.append(f'<tr data-name="{_e(label)}">')
        more += [c if c.startswith("<td") else f"<td>{c}</td>" for c in measures]
        more.append("</tr>")
    out.append("</tbody></table></div><h3>Secondary measures</h3>")
    out += more
    out.append("</tbody></table></div>")
    return "".join(out)


def _same_curves(data: ReportData) -> str:
    """A note naming the labels whose trials ran the same LR at every step, up to rounding
    (one seed's curve each; ``gamma ** k`` and ``exp(-k ln(1/gamma))`` differ in the last
    bits): two names for one curve compare nothing."""
    firsts: list[tuple[str, list[float]]] = []
    same = []
    for label, (_, lrs) in data.lrs.items():
        first = next((f for f, other in firsts if len(other) == len(lrs) and all(
            math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0) for a, b in zip(lrs, other))), None)
        if lrs and first is not None:
            same.append(f"{label} (same curve as {first})")
        elif lrs:
            firsts.append((label, lrs))
    if not same:
        return ""
    return ('<p class="note" id="same-curves">Same LR at every step: '
            + _e("; ".join(same)) + ". Their differences are noise, not the schedule.</p>")


def _tuning_section(data: ReportData, images: dict[str, bytes]) -> str:
    """What ``lrlab tune`` searched, with which budget, and what it chose, per schedule."""
    from ..schedules.spaces import space

    d = data.tune["definition"]
    tuned = data.tuned
    rung_epochs = sorted({e for t in tuned.values() for e in t["rungs"]})
    lo, hi = d.get("lr_range", [None, None])
    n = d.get("trials_per_schedule")
    head = ("<h2>Tuning</h2><p>Every schedule was tuned with the same budget before it was "
            f"compared: {_e(n)} configurations each, drawn by Optuna's QMC sampler (scrambled "
            f"Sobol, seed {_e(d.get('sampler_seed'))}) over its peak LR (log-uniform, its "
            f"reference LR × {_e(f'{lo:.4g}')} .. × {_e(f'{hi:.4g}')}) and its own parameters "
            f"(below; a value a preset entry fixes is its definition and was not searched); "
            f"{_e(d.get('budget_rungs'))} budget rung(s), of "
            f"{_e(', '.join(map(str, rung_epochs)))} epoch(s), each a complete run with the "
            f"schedule bound to that length, the best 1/{_e(d.get('eta'))} of a rung going on "
            f"to the next. Each was chosen on the validation accuracy of its last epoch, on "
            f"seed {_e(data.tune['seed'])}, which no evaluation uses; <strong>test data chose "
            f"nothing</strong>. The chosen configurations then ran over the seeds above.</p>")
    rows = []
    for label in data.labels:
        t = tuned.get(label, {"rungs": {}, "epochs": 0})
        e = data.entries.get(label, {})
        declared = space(e.get("name", "constant"))
        narrow = {**d.get("space", {}).get(e.get("name"), {}), **d.get("space", {}).get(label, {})}
        searched = ", ".join(
            f"{k} {lo:g}..{hi:g}{'%' if declared[k].kind == 'percent' else ''}"
            for k in sorted(_searched(data, label)) if k in declared
            for lo, hi in [narrow.get(k) or (declared[k].low, declared[k].high)])
        best = [max((s for _, s in t["rungs"].get(b, [])), default=None) for b in rung_epochs]
        cells = "".join(  # an accuracy, or (a regression) minus the validation loss
            f"<td>{'–' if x is None or x == -math.inf else _pct(x) if x >= 0 else _num(-x, '.4f')}"
            f"</td>" for x in best)
        lr = e.get("lr", data.definition.get("lr"))
        rows.append(f'<tr><td class="l">{_e(label)}</td><td>{_e(_num(lr, ".4g"))}</td>'
                    f'<td class="l"><code>{_e(_rounded(e.get("params") or {}))}</code></td>'
                    f'<td class="l">{_e(searched or "only the LR")}</td>{cells}'
                    f'<td>{sum(len(v) for v in t["rungs"].values())}</td><td>{t["epochs"]}</td></tr>')
    table = ('<table id="tuning"><thead><tr><th class="l">schedule</th><th>chosen LR</th>'
             '<th class="l">chosen parameters</th><th class="l">searched</th>'
             + "".join(f"<th>best val acc (val loss where none), {b} epochs</th>"
                       for b in rung_epochs)
             + "<th>trials (all rungs)</th><th>epochs trained</th></tr></thead><tbody>"
             + "".join(rows)
             + "</tbody></table>")
    epochs = {t["epochs"] for t in tuned.values()}
    note = ('<p class="note">Budget: ' + (
        f"every schedule trained {epochs.pop()} epochs in tuning (summed over its trials and "
        f"rungs, read from the store)." if len(epochs) == 1 else
        "the schedules trained unequal epochs in tuning (an unfinished tuning): "
        + ", ".join(f"{_e(k)} {v['epochs']}" for k, v in tuned.items()) + ".")
        + " Best val acc per rung: does the ranking change with the training length? The "
        "tuning curves show the expected best of k trials: where one still climbs at the right, "
        "more trials would still find better configurations, and its place depends on the "
        "tuning budget.</p>")
    fig = _img("tuning", "tuning curves", images["tuning"]) if "tuning" in images else ""
    return head + table + note + fig


def _img(name: str, alt: str, png: bytes) -> str:
    """Figure ``name`` embedded in the page (a data URI: the page stays self-contained)."""
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return f'<img id="fig-{name}" alt="{_e(alt)}" src="{uri}">'


def _rounded(params: dict) -> str:
    """Parameters as JSON, their floats to 4 significant digits (the store keeps them whole)."""
    return json.dumps({k: float(f"{v:.4g}") if isinstance(v, float) else v
                       for k, v in params.items()})


def _searched(data: ReportData, label: str) -> set[str]:
    """The parameters tuning drew for ``label`` (the keys of its draws)."""
    drawn = (data.tune or {}).get("drawn", {}).get(label) or [{}]
    return set(drawn[0].get("params", {})) if isinstance(drawn[0], dict) else set()


def _trials_table(data: ReportData) -> str:
    out = ['<table id="trials"><thead><tr><th class="l">trial</th><th>status</th>'
           "<th>test acc</th><th>test loss</th><th>epochs</th><th>best val epoch</th>"
           "<th>diverged at step</th><th>seconds</th></tr></thead><tbody>"]
    for label in data.labels:
        for s in data.seeds:
            t = data.trial(label, s)
            if t is None:
                out.append(f'<tr class="missing"><td class="l">{_e(label)}-seed{s}</td>'
                           f'<td class="l">not started</td>' + "<td>–</td>" * 6 + "</tr>")
                continue
            cls = ' class="missing"' if t.status in ("running", "failed") else ""
            status = f"{t.status}: {t.error}" if t.error else t.status
            out.append(
                f'<tr{cls}><td class="l">{_e(t.name)}</td><td class="l">{_e(status)}</td>'
                f"<td>{_pct(t.test_acc)}</td><td>{_num(t.test_loss, '.4f')}</td>"
                f"<td>{t.n_epochs}</td>"
                f"<td>{'–' if t.best_epoch is None else t.best_epoch + 1}</td>"
                f"<td>{'–' if t.diverged_step is None else t.diverged_step}</td>"
                f"<td>{t.seconds:.1f}</td></tr>")
    out.append("</tbody></table>")
    return "".join(out)


def render(data: ReportData, images: dict[str, bytes], config_path: str) -> str:
    """The report page (a string) with ``images`` (name -> PNG bytes) embedded."""
    from .._version import __version__

    d = data.definition
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width,initial-scale=1">',
             f"<title>lrlab compare: {_e(d.get('task') or data.out.name)}</title>",
             f"<style>{_CSS}</style></head><body>",
             f"<h1>Which learning-rate schedule works best? "
             f"<small>{_e(d.get('task') or '')}</small></h1>",
             f'<p class="note">{len(data.labels)} schedule{"s" * (len(data.labels) != 1)} × '
             f'{len(data.seeds)} seed{"s" * (len(data.seeds) != 1)}; '
             f"store {_e(data.out / 'results.sqlite')}.</p>"]
    if data.missing:
        items = "".join(f"<li>{_e(label)}-seed{s}: {_e(st)}</li>" for label, s, st in data.missing)
        parts.append(f'<div class="partial" id="missing"><strong>Partial results:</strong> '
                     f"{len(data.missing)} of {data.total} trials have not ended.<ul>{items}</ul>"
                     f"</div>")
    parts.append('<h2>Verdict</h2><div class="verdict" id="verdict">'
                 + "".join(f"<p>{_e(s)}</p>" for s in verdict(data)) + "</div>")
    parts.append("<h2>Ranking</h2>" + _ranking_table(data) + (
        '<p class="note">Test accuracy: mean over seeds ± sample std; 95% CI: the Student-t '
        "interval of the mean (its sd at least the test set's rounding to whole examples), "
        "intersected with [0, 100%], where an accuracy lies. Gap to best: this schedule minus "
        "the best, paired by seed (same initial weights and batches), in points, with Tukey's "
        "simultaneous 95% interval: all of them hold together, the choice of the best "
        "included. Verdict: best group: its gap does not exceed the critical difference, so "
        "this run cannot tell it from the best (which is not the same as equally good); worse: "
        "resolved below the best. P(improve): fraction of seeds on which it beats the best "
        "(ties ½). Train time: mean over seeds of a trial's training seconds; under the "
        "vectorised engine a trial trains inside a population, and this is the population's "
        "wall time, the same for all its trials: it compares schedules within this run, not "
        "engines or runs. Time to 95% / 99%: epochs and seconds until the validation accuracy "
        "reaches that fraction of the best final validation accuracy (– when a seed never "
        "reaches it). val AUC: mean validation accuracy over the epochs (anytime performance). "
        "Best val epoch: the epoch of the lowest validation loss (1-based). Nothing here was "
        "chosen on the test set: the schedules and their parameters were "
        + ("chosen on validation accuracy alone (Tuning, below)" if data.tune else
           "fixed before training") + ", and test accuracy only ranks them.</p>"))
    for name, title in FIGURES:
        if name in images:
            parts.append(f"<h2>{_e(title)}</h2>" + _img(name, title, images[name]))
    parts.append("<h2>What was compared</h2><p>Held fixed for every trial:</p><table "
                 'id="fixed">' + "".join(f'<tr><th class="l">{_e(k)}</th><td class="l">{_e(v)}'
                                         f"</td></tr>" for k, v in settings(data)) + "</table>")
    parts.append("<p>Varied: the schedule, one trial per schedule and seed. For each seed every "
                 "schedule starts from the same initial weights and sees the same batches.</p>"
                 '<table id="schedules"><thead><tr><th class="l">label</th><th class="l">'
                 'schedule</th><th class="l">given parameters</th><th class="l">ran as '
                 '(resolved for the run)</th><th class="l">interval</th></tr>'
                 "</thead><tbody>" + "".join(
                     f'<tr><td class="l">{_e(label)}</td><td class="l">{_e(e.get("name"))}</td>'
                     f'<td class="l"><code>{_e(json.dumps(e.get("params") or {}))}</code></td>'
                     f'<td class="l"><code>{_e(data.ran_as(label))}</code></td>'
                     f'<td class="l">{_e(e.get("interval") or "default")}</td></tr>'
                     for label, e in data.entries.items()) + "</tbody></table>" + _same_curves(data))
    parts.append(_tuning_section(data, images) if data.tune else
                 "<p>Nothing was tuned: every schedule ran with the parameters above, fixed "
                 "before training (the reference LR and the preset's or the schedule's "
                 "run-relative defaults); no parameter was searched on these results.</p>")
    parts.append("<h2>Trials</h2>" + _trials_table(data))
    version = data.meta.get("lrlab_version", "(not recorded)")
    parts.append("<h2>Reproduce</h2><p>The definition is in "
                 f"<code>{_e(config_path)}</code>:</p>"
                 f"<pre id=\"definition\">{_e(json.dumps(d, indent=2))}</pre><p>Commands:</p>"
                 + "".join(f"<pre>{_e(c)}</pre>" for c in commands(data, config_path))
                 + f"<p class=\"note\">Trained with lrlab {_e(version)} and torch "
                 f"{_e(data.meta.get('torch_version', '(not recorded)'))}; report written by "
                 f"lrlab {_e(__version__)}, "
                 f"Python {_e(sys.version.split()[0])}. Rebuild this page from the store "
                 f"alone: <code>lrlab report {_e(shlex.quote(str(data.out)))}</code>.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(out: str | Path, store=None) -> Path:
    """Write ``out/report.html`` (figures embedded), the figures as ``out/report/*.png`` and
    the definition as ``out/report/experiment.json``, from the store in ``out`` alone;
    returns the page's path.

    ``store``: the caller's open ``Store`` of ``out`` (it holds the folder). Otherwise the
    folder's lock is taken for the read and the writes when it is free; while another
    process holds it (a compare running), the page is written only if the store did not
    change between the read and the writes (read again, a few times, when it did), so a
    report of a partial store never replaces the one the compare writes at its end."""
    from ..experiments.lock import OutputFolder
    from ..experiments.store import open_store
    from ..fileio import atomic_write, remove_temporaries

    out = Path(out)
    if store is None:  # no store, or a damaged one: one line before the lock is touched
        open_store(out).close()
    folder = OutputFolder(out)
    try:
        if store is None:
            folder.claim()
        held = True
    except ValueError:  # a running compare holds it
        held = False
    try:
        if held:
            remove_temporaries(out, "report.html")
            remove_temporaries(out / "report")
        for _ in range(5):
            data = load(out, store)
            files = _files(data)
            if held or not changed(data):
                (out / "report").mkdir(exist_ok=True)
                for path, content in files.items():
                    atomic_write(path, content)
                return out / "report.html"
        raise ValueError(f"{out}: the store kept changing while its report was written (a "
                         f"compare is running there); its report is written when it ends")
    finally:
        folder.close()


def _files(data: ReportData) -> dict[Path, bytes]:
    """Every file of the report, rendered in memory: path -> content."""
    from .figures import png_bytes

    folder = data.out / "report"
    images = {name: png_bytes(fig) for name, fig in figures(data).items()}
    files = {folder / f"{name}.png": png for name, png in images.items()}
    config = folder / "experiment.json"
    files[config] = (json.dumps(config_data(data.definition), indent=2) + "\n").encode()
    files[data.out / "report.html"] = render(data, images, str(config)).encode("utf-8")
    return files
