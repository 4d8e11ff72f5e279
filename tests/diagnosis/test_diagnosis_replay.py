"""Replay of stop rules on recorded traces (issue 15, part 2): the machinery and its controls.

Synthetic traces: healthy trials (losses decaying with 1 % noise, plausible per-layer
gradient statistics, final accuracy 0.75-0.95) and >= 30 % pathological ones (exploding
gradients turning NaN, vanishing gradients, dead units with > 0.5 zero gradients, a flat
loss), each ending with a low accuracy (0.1-0.3).
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import optuna
import pytest

from effdl_kit.diagnosis import (
    BTTacklerRule,
    CurveFitPruner,
    CurveFitRule,
    DiagnosisConfig,
    EpochRecord,
    MedianRule,
    NoStopRule,
    RandomStopRule,
    ReplayHistory,
    ReplayResult,
    StopRule,
    TrialTrace,
    replay_stop_rules,
    replay_tpe,
    trace_space,
)

E = 12  # epochs per trial: every indicator can run (SC, ULC, NMG from epoch 6)
LAYERS = 4
KINDS = ("healthy", "exploding", "vanishing", "dead", "flat")


def _trace(i: int, kind: str, rng: np.random.Generator) -> TrialTrace:
    b = rng.uniform(0.2, 0.35)
    t = np.arange(E, dtype=np.float64)
    g0 = 10 ** rng.uniform(-3, -2) * np.exp(rng.normal(0, 0.2, LAYERS))
    if kind == "healthy":
        final = rng.uniform(0.75, 0.95)
        loss = 0.05 + 2.2 * np.exp(-b * t) * (1 + rng.normal(0, 0.01, E))
        metric = final - (final - 0.1) * np.exp(-b * (t + 1)) + rng.normal(0, 0.003, E)
    else:
        final = rng.uniform(0.1, 0.3)
        metric = np.full(E, final) + rng.normal(0, 0.003, E)
        loss = 2.3 - 0.02 * t + rng.normal(0, 0.01, E)
    recs = []
    for e in range(E):
        g = g0 * np.exp(-0.05 * e) * np.exp(rng.normal(0, 0.05, LAYERS))
        z = np.clip(rng.normal(0.05, 0.01, LAYERS), 0, 1)
        tl = float(loss[e])
        if kind == "exploding":
            g = g * 100.0 ** (e + 1)
            if e >= 3:
                g, tl = np.full(LAYERS, np.nan), float("nan")
        elif kind == "vanishing":
            g = g * 1e-5
        elif kind == "dead":
            z = np.clip(rng.normal(0.7, 0.02, LAYERS), 0, 1)
        elif kind == "flat":
            tl = 2.302585
        recs.append(EpochRecord(tuple(g.tolist()), tuple(z.tolist()), True, tl,
                                float(loss[e]) + 0.05, float(metric[e]),
                                wall_s=float(rng.uniform(0.9, 1.1))))
    return TrialTrace(f"c{i:03d}", tuple(recs), params={"kind": kind})


def make_traces(n: int, bad_share: float, seed: int) -> list[TrialTrace]:
    rng = np.random.default_rng(seed)
    n_bad = math.ceil(bad_share * n)
    kinds = [KINDS[1 + i % 4] for i in range(n_bad)] + ["healthy"] * (n - n_bad)
    return [_trace(i, k, rng) for i, k in enumerate(kinds)]


@pytest.fixture(scope="module")
def traces() -> list[TrialTrace]:
    return make_traces(60, 0.35, seed=1)


@pytest.fixture(scope="module")
def bt_result(traces: list[TrialTrace]) -> ReplayResult:
    # the 1,000 orderings
    return replay_stop_rules(traces, [BTTacklerRule(), NoStopRule()], budget=240,
                             n_orderings=1000, seed=0, n_boot=2000)


def test_trace_roundtrips_through_json(traces: list[TrialTrace]) -> None:
    for t in traces[:25]:
        back = TrialTrace.from_dict(json.loads(json.dumps(t.to_dict())))
        assert back.config_id == t.config_id and back.params == t.params
        for a, b in zip(back.records, t.records, strict=True):
            np.testing.assert_array_equal(a.mean_abs, b.mean_abs)  # NaN == NaN here
            assert (a.train_loss == b.train_loss
                    or (math.isnan(a.train_loss) and math.isnan(b.train_loss)))
            assert a.metric == b.metric and a.wall_s == b.wall_s


def test_positive_control_bttackler_saves_time(bt_result: ReplayResult,
                                               traces: list[TrialTrace]) -> None:
    assert sum(t.params["kind"] != "healthy" for t in traces) >= 0.3 * len(traces)
    m, lo, _ = bt_result.ci("bttackler", "tsba")
    assert m > 0 and lo > 0
    assert bt_result.ci("bttackler", "trials_finished")[0] > \
        bt_result.ci("bttackler", "baseline_finished")[0]
    assert bt_result.ci("bttackler", "epochs_saved")[1] > 0
    any_row = bt_result.indicators[(bt_result.indicators["rule"] == "bttackler")
                                   & (bt_result.indicators["indicator"] == "any")].iloc[0]
    # 35 % pathological, bad = bottom quartile: stopping exactly the pathological trials
    # gives precision 15 / 21 = 0.71 and recall 1
    assert any_row["precision"] >= 0.7 and any_row["recall"] >= 0.95


def test_negative_control_no_rule_is_exactly_the_plain_run(bt_result: ReplayResult) -> None:
    per = bt_result.per_ordering[bt_result.per_ordering["rule"] == "none"]
    assert len(per) == 1000
    assert (per["tsba"] == 0.0).all()
    assert (per["top10hr"] == 50.0).all()
    assert (per["stop_rate"] == 0.0).all() and (per["epochs_saved"] == 0.0).all()
    assert bt_result.ci("none", "tsba") == (0.0, 0.0, 0.0)


def test_negative_control_random_rule_at_bttackler_stop_rate(
        bt_result: ReplayResult, traces: list[TrialTrace]) -> None:
    """"TSBA <= 0 within its CI" read as: the mean is <= 0 and the CI's lower bound is <= 0
    (random stopping shows no saving); also its mean is below BTTackler's lower CI bound."""
    rate = bt_result.ci("bttackler", "stop_rate")[0]
    assert 0.2 < rate < 0.6
    res = replay_stop_rules(traces, [RandomStopRule(rate)], budget=240, n_orderings=1000,
                            seed=0, n_boot=2000)
    m, lo, _ = res.ci("random", "tsba")
    assert m <= 0 and lo <= 0
    assert m < bt_result.ci("bttackler", "tsba")[1]
    assert abs(res.ci("random", "stop_rate")[0] - rate) < 0.05


def test_protection_depends_on_the_ordering() -> None:
    rng = np.random.default_rng(3)
    # a strong trial whose loss flattens at a low value: PLC fires (first half) unless it is
    # protected by >= 10 earlier trials with higher losses at the same epoch
    strong = _trace(0, "healthy", rng)
    flat = tuple(EpochRecord(r.mean_abs, r.zero_fraction, True, 0.01, r.val_loss, r.metric)
                 for r in strong.records)
    strong = TrialTrace("strong", flat)
    peers = [_trace(i + 1, "healthy", rng) for i in range(10)]
    rule = BTTacklerRule()
    empty = ReplayHistory()
    stop, why = rule.first_stop(strong, empty)
    assert stop is not None and "PLC" in why
    full = ReplayHistory()
    for p in peers:
        full.add(p, p.max_epochs)
    assert rule.first_stop(strong, full) == (None, ())
    nine = ReplayHistory()
    for p in peers[:9]:
        nine.add(p, p.max_epochs)
    assert rule.first_stop(strong, nine)[0] == stop


def test_first_stop_agrees_with_decide(traces: list[TrialTrace]) -> None:
    rules = [BTTacklerRule(), MedianRule(), CurveFitRule(), RandomStopRule(0.5)]
    order = np.random.default_rng(5).permutation(len(traces))[:25]
    for rule in rules:
        for k in range(2):
            hist_fast, hist_slow = ReplayHistory(), ReplayHistory()
            rule.start_ordering(np.random.default_rng(k))
            for i in order:
                t = traces[int(i)]
                fast = rule.first_stop(t, hist_fast)
                slow = next(((e, rule.reasons(t, e, hist_slow)) for e in range(E - 1)
                             if rule.decide(t, e, hist_slow)), (None, ()))
                assert fast == slow, (rule.name, t.config_id)
                n = E if fast[0] is None else fast[0] + 1
                hist_fast.add(t, n)
                hist_slow.add(t, n)


def test_median_rule_is_optunas() -> None:
    rng = np.random.default_rng(0)
    done = [_trace(i, "healthy", rng) for i in range(5)]
    hist = ReplayHistory()
    rule = MedianRule()
    bad = _trace(9, "dead", rng)
    for p in done[:4]:
        hist.add(p, E)
    assert not rule.decide(bad, 3, hist)  # 4 complete trials < n_startup_trials = 5
    hist.add(done[4], E)
    assert rule.decide(bad, 0, hist)
    best = max(done, key=lambda t: t.records[0].metric)
    assert not rule.decide(best, 0, hist)


def test_replay_is_deterministic_and_jsonable(traces: list[TrialTrace]) -> None:
    def run(rules: list[StopRule], seed: int) -> ReplayResult:
        return replay_stop_rules(traces, rules, budget=200, n_orderings=20, seed=seed,
                                 n_boot=200)

    rules: list[StopRule] = [BTTacklerRule(DiagnosisConfig.preset("faithful")), MedianRule(),
                             CurveFitRule()]
    a = run(rules, 4)
    b = run([BTTacklerRule(DiagnosisConfig.preset("faithful")), MedianRule(), CurveFitRule()], 4)
    assert a.to_dict() == b.to_dict()
    assert a.to_dict() != run(rules, 5).to_dict()
    back = ReplayResult.from_dict(json.loads(json.dumps(a.to_dict())))
    assert back.to_dict() == a.to_dict()
    assert set(a.per_ordering["rule"]) == {"bttackler", "median", "curvefit"}
    assert a.n_bad == 15  # bottom quartile of 60 traces


def test_bad_arguments_are_refused(traces: list[TrialTrace]) -> None:
    with pytest.raises(ValueError):
        replay_stop_rules(traces, [NoStopRule(), NoStopRule()], budget=10, n_orderings=2)
    with pytest.raises(ValueError):
        replay_stop_rules(traces[:1], [NoStopRule()], budget=10, n_orderings=2)
    with pytest.raises(ValueError):
        replay_stop_rules(traces + traces[:1], [NoStopRule()], budget=10, n_orderings=2)
    with pytest.raises(ValueError):
        replay_stop_rules(traces, [NoStopRule()], budget=0, n_orderings=2)


def test_median_rule_agrees_with_optunas_median_pruner(traces: list[TrialTrace]) -> None:
    """Differential test against Optuna's MedianPruner on the same histories."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rule = MedianRule()
    rng = np.random.default_rng(2)
    seen = set()
    for case in range(12):
        idx = rng.permutation(len(traces))
        done, cand = [traces[i] for i in idx[:4 + case % 6]], traces[int(idx[-1])]
        hist = ReplayHistory()
        study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner())
        for t in done:
            hist.add(t, t.max_epochs)
            study.add_trial(optuna.trial.create_trial(
                value=t.final_metric, state=optuna.trial.TrialState.COMPLETE,
                params={}, distributions={},
                intermediate_values={e: r.metric for e, r in enumerate(t.records)}))
        trial = study.ask()
        for e in range(E - 1):
            trial.report(cand.records[e].metric, e)
            verdict = rule.decide(cand, e, hist)
            assert verdict == trial.should_prune(), (case, e)
            seen.add(verdict)
    assert seen == {True, False}


def test_direction_and_wall_clock(traces: list[TrialTrace]) -> None:
    """Minimising the error 1 - accuracy replays exactly as maximising the accuracy."""
    flipped = [TrialTrace(t.config_id, tuple(
        EpochRecord(r.mean_abs, r.zero_fraction, r.has_grads, r.train_loss, r.val_loss,
                    1.0 - r.metric, r.wall_s) for r in t.records), direction="minimize")
        for t in traces]
    a, b = (replay_stop_rules(ts, [BTTacklerRule(), MedianRule()], budget=240.0,
                              n_orderings=15, seed=1, n_boot=200) for ts in (traces, flipped))
    for q in ("tsba", "top10hr", "trials_finished", "stop_rate"):
        np.testing.assert_allclose(a.per_ordering[q], b.per_ordering[q], rtol=1e-12)
    assert a.n_bad == b.n_bad
    w = replay_stop_rules(traces, [NoStopRule()], budget=240.0, n_orderings=5, seed=1,
                          clock="wall", n_boot=200)
    assert (w.per_ordering["tsba"] == 0.0).all() and w.clock == "wall"
    # wall seconds are ~1 per epoch: about as many trials fit as with the epoch clock
    assert abs(w.ci("none", "baseline_finished")[0] - 20) <= 2


def test_history_median_and_best() -> None:
    rng = np.random.default_rng(7)
    ts = [_trace(i, KINDS[i % 5], rng) for i in range(11)]
    hist = ReplayHistory()
    for i, t in enumerate(ts):
        hist.add(t, t.max_epochs if i % 3 else 4)
    for e in range(E):
        vals = np.asarray(hist.complete_metrics_at(e))
        n, med = hist.complete_median_at(e)
        assert n == np.isfinite(vals).sum() and med == pytest.approx(np.median(vals))
    assert len(hist.losses_at(2)) == 11 and len(hist.losses_at(5)) == 7
    assert hist.best_result("maximize") == (7, max(hist.complete_results))
    t = ts[0]
    nan_final = TrialTrace("nan", (*t.records[:-1], EpochRecord(
        t.records[-1].mean_abs, t.records[-1].zero_fraction, True, 1.0, 1.0, float("nan"))))
    hist.add(nan_final, E)  # Optuna records a NaN result as FAIL: not a complete trial
    assert len(hist.complete_results) == 7 and len(hist.losses_at(E - 1)) == 8


def test_curvefit_rule_agrees_with_curvefit_pruner(traces: list[TrialTrace]) -> None:
    """Differential test against the kit's Optuna CurveFitPruner on the same histories."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rule = CurveFitRule()
    rng = np.random.default_rng(3)
    seen = set()
    for case in range(8):
        idx = rng.permutation(len(traces))
        done, cand = [traces[i] for i in idx[:3 + case % 5]], traces[int(idx[-1])]
        hist = ReplayHistory()
        study = optuna.create_study(direction="maximize", pruner=CurveFitPruner(E))
        for t in done:
            hist.add(t, t.max_epochs)
            study.add_trial(optuna.trial.create_trial(
                value=t.final_metric, state=optuna.trial.TrialState.COMPLETE,
                params={}, distributions={},
                intermediate_values={e: r.metric for e, r in enumerate(t.records)}))
        trial = study.ask()
        for e in range(E - 1):
            trial.report(cand.records[e].metric, e)
            verdict = rule.decide(cand, e, hist)
            assert verdict == trial.should_prune(), (case, e)
            seen.add(verdict)
    assert seen == {True, False}


def test_a_last_epoch_diagnosis_is_not_a_stop() -> None:
    rng = np.random.default_rng(4)
    t = _trace(0, "healthy", rng)
    last = t.records[-1]
    boom = EpochRecord(tuple([float("nan")] * LAYERS), last.zero_fraction, True,
                       float("nan"), last.val_loss, last.metric)
    late = TrialTrace("late", (*t.records[:-1], boom))
    rule = BTTacklerRule()
    assert rule.first_stop(late, ReplayHistory()) == (None, ())
    res = replay_stop_rules([late, t], [rule], budget=100, n_orderings=4, n_boot=100)
    assert (res.per_ordering["stop_rate"] == 0.0).all()


def test_random_rule_matching_bttacklers_stop_epochs_too(
        bt_result: ReplayResult, traces: list[TrialTrace]) -> None:
    """A stronger negative control: BTTackler's stop rate and its stop-epoch distribution;
    TSBA <= 0 within its CI (mean <= 0, lower bound <= 0)."""
    st = bt_result.stop_epochs[bt_result.stop_epochs["rule"] == "bttackler"]
    assert st["count"].sum() == round(bt_result.ci("bttackler", "stop_rate")[0]
                                      * len(traces) * 1000)
    epochs = np.repeat(st["epoch"].to_numpy(), st["count"].to_numpy()).tolist()
    rate = bt_result.ci("bttackler", "stop_rate")[0]
    res = replay_stop_rules(traces, [RandomStopRule(rate, stop_epochs=epochs)], budget=240,
                            n_orderings=1000, seed=0, n_boot=2000)
    m, lo, _ = res.ci("random", "tsba")
    assert m <= 0 and lo <= 0
    got = res.stop_epochs["epoch"].to_numpy()
    assert set(got) <= set(st["epoch"])
    with pytest.raises(ValueError):
        RandomStopRule(0.5, stop_epochs=[])


def test_a_rule_object_can_be_reused_on_another_trace_set(traces: list[TrialTrace]) -> None:
    """Caches are keyed by config_id and dropped by prepare(): same ids, other content."""
    other = make_traces(60, 0.0, seed=9)  # all healthy, same ids c000..c059
    rules: list[StopRule] = [BTTacklerRule(), CurveFitRule()]
    replay_stop_rules(traces, rules, budget=200, n_orderings=3, n_boot=100)
    reused = replay_stop_rules(other, rules, budget=200, n_orderings=3, n_boot=100)
    fresh = replay_stop_rules(other, [BTTacklerRule(), CurveFitRule()], budget=200,
                              n_orderings=3, n_boot=100)
    assert reused.to_dict() == fresh.to_dict()


def _with_params(traces: list[TrialTrace], seed: int) -> list[TrialTrace]:
    """Hyper-parameters that explain the pathology: a high lr explodes, a tiny one vanishes,
    sigmoid goes with dead units and flat losses."""
    rng = np.random.default_rng(seed)
    ranges = {"healthy": (1e-3, 0.1), "exploding": (0.3, 1.0), "vanishing": (1e-4, 3e-4),
              "dead": (1e-3, 0.1), "flat": (1e-3, 0.1)}
    out = []
    for t in traces:
        kind = t.params["kind"]
        lo, hi = ranges[kind]
        act = "sigmoid" if kind in ("dead", "flat") else str(rng.choice(["relu", "tanh"]))
        lr = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        out.append(dataclasses.replace(t, params={"lr": lr, "act": act}))
    return out


def test_trace_space_reads_the_params(traces: list[TrialTrace]) -> None:
    space = trace_space(_with_params(traces, 0))
    assert set(space) == {"lr", "act"}
    assert isinstance(space["lr"], optuna.distributions.FloatDistribution) and space["lr"].log
    assert set(space["act"].choices) == {"relu", "tanh", "sigmoid"}  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        trace_space(traces[:2] + _with_params(traces[2:4], 0))
    # non-scalar params (a tuple of widths, stored as a JSON list) become JSON-text choices
    widths = [dataclasses.replace(t, params={**t.params, "hidden": [64] * (1 + i % 3)})
              for i, t in enumerate(_with_params(traces, 0))]
    assert set(trace_space(widths)["hidden"].choices) == {  # type: ignore[attr-defined]
        "[64]", "[64, 64]", "[64, 64, 64]"}
    res = replay_tpe(widths, [NoStopRule()], budget=100, n_runs=2, n_boot=100)
    assert (res.per_ordering["tsba"] == 0.0).all()


def test_tpe_replay_controls(traces: list[TrialTrace]) -> None:
    """TPE-ordered replay (the sampler sees the replayed results; 20 runs, ~1 s): the no-rule
    control is the plain run exactly; positive control: BTTackler's TSBA CI lies above 0;
    negative control: random stops at BTTackler's stop rate, TSBA <= 0 (mean and lower
    bound)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ts = _with_params(traces, 0)
    res = replay_tpe(ts, [NoStopRule(), BTTacklerRule()], budget=240, n_runs=20, seed=0,
                     n_boot=1000)
    none = res.per_ordering[res.per_ordering["rule"] == "none"]
    assert (none["tsba"] == 0.0).all() and (none["top10hr"] == 50.0).all()
    bt = res.per_ordering[res.per_ordering["rule"] == "bttackler"]
    assert (bt["trials_finished"] >= bt["baseline_finished"]).all()
    assert res.ci("bttackler", "tsba")[1] > 0
    rate = res.ci("bttackler", "stop_rate")[0]
    rnd = replay_tpe(ts, [RandomStopRule(rate)], budget=240, n_runs=20, seed=0, n_boot=1000)
    m, lo, _ = rnd.ci("random", "tsba")
    assert m <= 0 and lo <= 0
    again = replay_tpe(ts, [NoStopRule(), BTTacklerRule()], budget=240, n_runs=20, seed=0,
                       n_boot=1000)
    assert again.to_dict() == res.to_dict()
