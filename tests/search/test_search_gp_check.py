"""gp_spread / gp_collapse_report: the faithful GP's σ at, near and far from the prior rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from effdl_kit.data import ComponentEncoder
from effdl_kit.models import make_static_predictor
from effdl_kit.search import base_row, gp_collapse_report, gp_spread, predictor_problem


def test_sigma_is_near_zero_at_the_rows_and_the_prior_far_away() -> None:
    rng = np.random.default_rng(0)
    X0 = rng.uniform(size=(40, 3))
    y0 = np.sin(3 * X0).sum(1)
    at = gp_spread(X0, y0, X0, n_restarts=1)
    assert at.frac_near_zero == 1.0 and at.sigma_rel["max"] <= 0.01
    assert at.grid_to_rows == 0.0 and at.rows_to_rows > 0
    assert at.prior_sigma == np.std(y0)  # normalize_y: the prior σ is the targets' std
    far = gp_spread(X0, y0, X0 + 1e3, n_restarts=1)
    assert far.frac_at_prior == 1.0 and far.sigma_rel["min"] >= 0.99
    assert far.mu_std < 1e-6  # the prior mean everywhere
    assert 1e-5 <= at.length_scale <= 1e5 and at.n_features == 3 and at.n_candidates == 40
    q = list(at.sigma_rel.values())
    assert q == sorted(q)


def test_collapse_report_has_both_encodings() -> None:
    rng = np.random.default_rng(1)
    n = 120
    X = pd.DataFrame({"lr": 10 ** rng.uniform(-4, -1, n),
                      "opt": rng.choice(["sgd", "adam"], n),
                      "norm": rng.choice(["bn,ln", "bn", "ln"], n)})
    y = 0.8 - 0.05 * (np.log10(X["lr"]) + 2.5) ** 2 + rng.normal(0, 0.01, n)
    enc = ComponentEncoder(keyword_columns=["norm"], numeric_columns=["lr"],
                           categorical_columns=["opt"])
    pipe = make_static_predictor(encoder=enc, n_estimators=10, random_state=0).fit(X, y)
    problem = predictor_problem(pipe, {"lr": [1e-4, 1e-3, 1e-2], "opt": ["sgd", "adam"]},
                                base_row(X, list(X.columns)))
    report = gp_collapse_report(problem, X, y, n_restarts=0, faithful_iterations=2)
    lines = report.splitlines()
    assert lines[0].startswith("120 prior rows, 6 grid candidates")
    assert lines[4].startswith("| kit (multi-hot) | 5 |")  # lr, opt=adam, opt=sgd, bn, ln
    assert lines[5].startswith("| authors (1 column/component) | 3 |")
    assert lines[7].startswith("- kit (multi-hot): 0 rows share their GP input")
    assert lines[9].startswith("- faithful preset, seed 0, 2 iterations: picks [")
