"""The ``effdl`` command line.

::

    effdl [--debug] COMMAND ...
    effdl env [--json]
    effdl reproduce NAME --scale {smoke,small,paper} [--seed N] [--out DIR]
                         [--scheduler ADDRESS] [--storage URL] [--study-prefix P]
                         [--device {cpu,gpu}]
    effdl figures [--out DIR] [--readme [README] [--check]]
    effdl notebooks [--dir DIR] --scale {smoke,small,paper} [--seed N] [--out DIR]
    effdl build-components --n N --scale {smoke,small,paper} [--seed N] --out FILE
                           [--workers K | --scheduler ADDRESS]
    effdl build-traces --scale {smoke,small,paper} [--seed N] --out FILE
                       [--workers K | --scheduler ADDRESS]
    effdl build-latency --n N --out FILE [--device DEVICE] [--seed N] [--module-types T,...]
                        [--warmup K] [--repeats K] [--threads K] [--block K]
                        [--no-progress] [--scheduler ADDRESS]
    effdl recommend --task {digits,synthetic} --device {cpu,gpu} --latency-ms MS
                    [--scale {smoke,small,paper}] [--seed N] [--n-iter K] [--top K]
                    [--mode {constrained,unconstrained}] [--confidence P] [--confirm K]
                    [--out DIR]

``effdl recommend`` prints the ranked candidates (predicted accuracy, predicted latency with
its calibrated 90 % interval, P(latency <= budget); :func:`effdl_kit.recommend.recommend`)
and, with ``--out``, writes ``DIR/recommendation.json``; its task, device, budget, scale and
mode are checked by the library, so a bad value is one error line naming the flag.
``--confirm K`` then trains the top K (BTTackler-guarded) and measures each trained network's
latency (:func:`effdl_kit.recommend.confirm`): realised vs predicted accuracy, measured vs
predicted latency, the share inside the budget, the compute spent
(``DIR/confirmation.json`` and a Markdown table, ``DIR/confirmation.md``, with ``--out``).

``--scheduler tcp://host:8786`` runs the work on that Dask cluster (``pip install
"effdl-kit[dask]"``); ``--storage postgresql+psycopg://user@host:5432/db`` keeps the studies in
one shared Optuna storage (``pip install "effdl-kit[postgres]"``); ``--device gpu`` runs
``medn`` on the GPU latency dataset. An option the experiment does not take is refused (exit
status 2), naming the experiments that take it.

``effdl figures --readme`` rewrites the README's marked results blocks from the committed
result files they name (:func:`effdl_kit.reports.sync_readme`; paths relative to the README's
folder) and prints each block it changed; with ``--check`` it writes nothing and exits with
status 1 when a block differs from its file.

Bad arguments end with argparse's usage message (exit status 2). Every other failure ends
with one ``effdl: error: ...`` line on stderr and no traceback
(:func:`effdl_kit._cli_guard.describe_error`): exit status 2 for an error the kit raises on
purpose (:class:`effdl_kit.errors.EffdlError`; a library parameter is shown with its flag,
``'path' (--out)``), an operating-system error (permission, not a directory, a directory
where a file is wanted, disk full; the flag whose path it concerns is named), a database
that cannot be reached or refuses the credentials, a missing module (a storage URL's driver),
``MemoryError`` or a worker process that died; exit status 1, with the exception's type, for
anything unexpected. ``--debug`` (before or after the command) re-raises instead, so the
full traceback shows. Passwords in ``--storage`` / ``--scheduler`` URLs are printed as
``***``.

Checked before any work starts: ``--storage`` (an RDB URL's driver, server and credentials,
by connecting; a journal path's folder and permissions, by probing), a ``tls://``
``--scheduler`` (Dask's TLS client settings present) and ``--n`` of the dataset builders (its
bookkeeping must fit in half the memory available now).

Each subcommand imports the library parts it uses when it runs (not a cycle: the CLI is the
top layer), so ``effdl --help`` and ``effdl env`` start without loading torch and the
experiments.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from effdl_kit._cli_guard import (
    check_rows_fit,
    check_scheduler,
    check_storage,
    describe_error,
    redact,
)
from effdl_kit._core.errors import ConfigError
from effdl_kit._core.rng import SEED_MAX
from effdl_kit._core.storage import dask_executor
from effdl_kit._core.validate import SCALES

__all__ = ["build_parser", "dask_executor", "main"]

DEFAULT_OUT = "results"
DEFAULT_NOTEBOOKS = "notebooks"

# Memory a builder holds per requested row before its first row starts, rounded up from
# tracemalloc peaks at n = 2e4..2e5 (components: 2,960 B of call tuples + 2,130 B of process
# pool futures; latency: 178-200 B of plans); --n is refused when it would not fit.
COMPONENT_ROW_BYTES = 6_000
LATENCY_ROW_BYTES = 256

# Library parameter -> the flag that sets it, per command: a ConfigError about the parameter
# is printed with its flag ("invalid value for 'path' (--out): ...").
_BUILD_FLAGS = {"n": "--n", "scale": "--scale", "seed": "--seed", "path": "--out",
                "max_workers": "--workers", "executor": "--scheduler", "scheduler": "--scheduler"}
_FIELD_FLAGS: dict[str, dict[str, str]] = {
    "reproduce": {"scale": "--scale", "seed": "--seed", "out": "--out", "storage": "--storage",
                  "study_prefix": "--study-prefix", "executor": "--scheduler",
                  "scheduler": "--scheduler", "device": "--device"},
    "figures": {"out": "--out", "readme": "--readme"},
    "notebooks": {"notebooks_dir": "--dir", "scale": "--scale", "seed": "--seed",
                  "out": "--out", "timeout": "--timeout"},
    "build-components": _BUILD_FLAGS,
    "build-traces": _BUILD_FLAGS,
    "build-latency": {**_BUILD_FLAGS, "device": "--device", "module_types": "--module-types",
                      "warmup": "--warmup", "repeats": "--repeats", "threads": "--threads",
                      "block": "--block"},
    "recommend": {"task": "--task", "device": "--device", "latency_budget_ms": "--latency-ms",
                  "scale": "--scale", "seed": "--seed", "n_iter": "--n-iter", "mode": "--mode",
                  "top": "--top", "confirm": "--confirm",
                  "confidence": "--confidence", "out": "--out"},
}


def _seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= v <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**32): {v}")
    return v


def _timeout(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text}")
    return v


def build_parser(prog: str = "effdl") -> argparse.ArgumentParser:
    """The argument parser of ``effdl`` (also used by the ``%effdl`` magic)."""
    from effdl_kit.experiments import list_experiments

    parser = argparse.ArgumentParser(
        prog=prog, description="effdl-kit: reproduce, tune and plot efficient-DL papers.")
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    sub = _Subcommands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))

    p_env = sub.add_parser("env", help="describe this machine (CPU, memory, GPUs, versions)")
    p_env.add_argument("--json", action="store_true", help="print the record as JSON")

    p_rep = sub.add_parser("reproduce", help="run a registered experiment")
    p_rep.add_argument("name", choices=list_experiments(), metavar="NAME",
                       help="experiment: " + ", ".join(list_experiments()))
    p_rep.add_argument("--scale", required=True, choices=SCALES)
    p_rep.add_argument("--seed", type=_seed, default=0)
    p_rep.add_argument("--out", default=DEFAULT_OUT, help=f"results root ({DEFAULT_OUT})")
    p_rep.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run the workers on this Dask scheduler (tcp://host:8786)")
    p_rep.add_argument("--storage", default=None, metavar="URL",
                       help="one Optuna storage for the studies (RDB URL or journal path)")
    p_rep.add_argument("--study-prefix", default=None, metavar="P",
                       help="with --storage: prefix of the studies' names")
    p_rep.add_argument("--device", default=None, choices=("cpu", "gpu"),
                       help="medn: the latency dataset measured on this kind of device")

    p_fig = sub.add_parser("figures", help="redraw every experiment's figures from its results")
    p_fig.add_argument("--out", default=DEFAULT_OUT, help=f"results root ({DEFAULT_OUT})")
    p_fig.add_argument("--readme", nargs="?", const="README.md", default=None, metavar="README",
                       help="instead of redrawing, sync README's results blocks from the "
                            "docs/results files they name (default README.md)")
    p_fig.add_argument("--check", action="store_true",
                       help="with --readme: only report differences (exit status 1 if any)")

    p_nb = sub.add_parser("notebooks", help="execute the notebooks with injected parameters")
    p_nb.add_argument("--dir", default=DEFAULT_NOTEBOOKS,
                      help=f"notebooks directory ({DEFAULT_NOTEBOOKS})")
    p_nb.add_argument("--scale", required=True, choices=SCALES)
    p_nb.add_argument("--seed", type=_seed, default=0)
    p_nb.add_argument("--out", default=DEFAULT_OUT, help=f"results root ({DEFAULT_OUT})")
    p_nb.add_argument("--timeout", type=_timeout, default=None,
                      help="seconds allowed per cell (default: no limit)")
    p_bc = sub.add_parser("build-components",
                          help="train sampled configurations into a component dataset "
                               "(resumable: rerun the same command to continue)")
    p_bc.add_argument("--n", type=int, required=True, help="rows wanted in total")
    _add_build_args(p_bc, "dataset file (JSON lines)")
    p_bt = sub.add_parser("build-traces",
                          help="train BTTackler trace configurations to full length with the "
                               "diagnoser watching (resumable: rerun the same command)")
    _add_build_args(p_bt, "trace file (JSON lines)")
    _add_build_latency(sub)
    _add_recommend(sub)
    return parser


_DEBUG_HELP = "on an error, show the full traceback instead of one line"


class _Subcommands:
    """``add_subparsers()`` whose every subcommand also takes ``--debug`` (after its name)."""

    def __init__(self, action: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        self.action = action
        self.debug = argparse.ArgumentParser(add_help=False)
        self.debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                help=_DEBUG_HELP)

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return self.action.add_parser(name, parents=[self.debug], **kwargs)


def _add_build_args(p: argparse.ArgumentParser, out_help: str) -> None:
    """The options every training dataset builder shares (scale, seed, file, where to train)."""
    p.add_argument("--scale", required=True, choices=SCALES)
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--out", required=True, help=out_help)
    p.add_argument("--workers", type=int, default=None, help="local worker processes")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="train the rows on this Dask scheduler (tcp://host:8786)")


@contextlib.contextmanager
def _build_executor(args: argparse.Namespace) -> Iterator[Any]:
    """The Dask executor of ``--scheduler`` (None: local workers); refuses both at once."""
    if args.scheduler is not None and args.workers is not None:
        raise ConfigError("--workers", args.workers, "left out with --scheduler (the cluster's "
                          "workers train the rows)")
    with _dask(args.scheduler) as executor:
        yield executor


@contextlib.contextmanager
def _dask(address: str | None) -> Iterator[Any]:
    """:func:`dask_executor` of ``--scheduler``, after :func:`check_scheduler`."""
    check_scheduler(address)
    with dask_executor(address) as executor:
        yield executor


def _add_build_latency(sub: _Subcommands) -> None:
    """The ``build-latency`` subcommand (the options of :func:`build_latency_dataset`)."""
    from effdl_kit.measure import MODULE_TYPES

    p = sub.add_parser("build-latency",
                       help="time sampled modules into a module-latency dataset (resumable: "
                            "rerun the same command to continue)")
    p.add_argument("--n", type=int, required=True, help="rows wanted in total")
    p.add_argument("--out", required=True, help="dataset file (JSON lines)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:i] (default: cpu)")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--module-types", default=",".join(MODULE_TYPES), metavar="T,...",
                   help="comma-separated module types (default: all)")
    p.add_argument("--warmup", type=int, default=5, help="untimed calls per row (5)")
    p.add_argument("--repeats", type=int, default=25, help="timed calls per row (25)")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (1)")
    p.add_argument("--block", type=int, default=200,
                   help="rows per load level per chunk (200)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="measure on this Dask scheduler's workers (tcp://host:8786); run one "
                        "single-threaded worker per machine")


def _add_recommend(sub: _Subcommands) -> None:
    """The ``recommend`` subcommand (the arguments of :func:`effdl_kit.recommend.recommend`;
    values left to the library's checks, so a bad one is one error line)."""
    p = sub.add_parser("recommend",
                       help="recommend components for the best predicted accuracy under an "
                            "inference-latency budget (nothing trained)")
    p.add_argument("--task", required=True, help="digits or synthetic")
    p.add_argument("--device", required=True, help="cpu or gpu (a device with a latency "
                                                    "dataset)")
    p.add_argument("--latency-ms", required=True, metavar="MS",
                   help="latency budget per sample (batch 1), ms; inf for none")
    p.add_argument("--scale", default="small", help="smoke, small or paper (small)")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--n-iter", type=int, default=None,
                   help="static-predictor calls of the search (default: the scale's)")
    p.add_argument("--top", type=int, default=10, help="rows of the table printed (10)")
    p.add_argument("--mode", default="constrained",
                   help="constrained (default) or unconstrained")
    p.add_argument("--confidence", type=float, default=0.5, metavar="P",
                   help="rank first the candidates within the budget with probability >= P "
                        "(0.5)")
    p.add_argument("--confirm", type=int, default=0, metavar="K",
                   help="train the top K (BTTackler-guarded) and measure their latency (0)")
    p.add_argument("--out", default=None,
                   help="write DIR/recommendation.json (and DIR/confirmation.json)")


def _cmd_recommend(args: argparse.Namespace) -> int:
    import pandas as pd

    from effdl_kit._core.io import check_out_dir
    from effdl_kit._core.validate import check_int
    from effdl_kit.recommend import check_request, recommend

    check_int("top", args.top, min_value=1)
    check_int("confirm", args.confirm, min_value=0)
    check_request(args.task, args.device, args.latency_ms, n_iter=args.n_iter,
                  seed=args.seed, scale=args.scale, mode=args.mode,
                  confidence=args.confidence)
    out = check_out_dir(args.out) if args.out is not None else None

    def progress(done: int, total: int, label: str) -> None:
        if not label.startswith("search") or done == total or done % 10 == 0:
            print(f"[{done}/{total}] {label}", file=sys.stderr, flush=True)

    rec = recommend(args.task, args.device, float(args.latency_ms), n_iter=args.n_iter,
                    seed=args.seed, scale=args.scale, mode=args.mode, progress=progress,
                    confidence=args.confidence)
    table = rec.table(args.top)
    shown = table[["rank", *rec.components, "accuracy", "latency_ms", "latency_lo_ms",
                   "latency_hi_ms", "p_feasible"]]
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    cal = rec.calibration
    cov = cal.get("coverage")
    print(f"task {rec.task}, device {rec.device}, budget {rec.latency_budget_ms:g} ms, "
          f"scale {rec.scale}, seed {rec.seed}, mode {rec.mode}: "
          f"{len(rec.candidates)} candidates evaluated, "
          f"{rec.within_budget_share(args.top):.0%} of the top {len(table)} within budget; "
          f"latency interval {cal.get('interval', 0.9):.0%} nominal, "
          + (f"{cov:.0%} covered on {cal.get('n_models')} held-out whole models"
             if cov is not None and cov == cov else "uncalibrated") +
          f"; {rec.time_s.get('total', float('nan')):.0f} s")
    if out is not None:
        path = out / "recommendation.json"
        rec.to_json(path)
        print(f"wrote {path}")
    if args.confirm:
        _confirm_recommendation(rec, args.confirm, out)
    return 0


def _confirm_recommendation(rec: Any, top: int, out: Path | None) -> None:
    """``effdl recommend --confirm K``: train and time the top K, print the comparison."""
    import pandas as pd

    from effdl_kit.recommend import confirm

    def progress(done: int, total: int, label: str) -> None:
        print(f"[{done}/{total}] {label}", file=sys.stderr, flush=True)

    conf = confirm(rec, top, progress=progress)
    f = conf.frame()
    cols = ["rank", "predicted_accuracy", "accuracy", "predicted_ms", "predicted_lo_ms",
            "predicted_hi_ms", "measured_ms", "within_budget", "diagnosis", "error", "train_s"]
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(f[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    s = conf.summary()
    print(f"confirmed {s['n_confirmed']}: {s['share_within_budget']:.0%} measured within "
          f"{rec.latency_budget_ms:g} ms, {s['interval_coverage']:.0%} inside their predicted "
          f"interval, realised accuracy {s['mean_accuracy']:.3f} vs predicted "
          f"{s['mean_predicted_accuracy']:.3f}, {s['n_stopped_by_diagnosis']} stopped by "
          f"BTTackler, {s['n_failed']} failed; compute {s['compute_s']:.0f} s (recommend "
          f"{s['recommend_s']:.0f}, train {s['train_s']:.0f}, measure {s['measure_s']:.0f})")
    if out is not None:
        from effdl_kit._core.io import atomic_write_text

        path = out / "confirmation.json"
        conf.to_json(path)
        command = " ".join(["effdl", *sys.argv[1:]]) if sys.argv[1:2] == ["recommend"] \
            else None
        md = atomic_write_text(out / "confirmation.md", conf.to_markdown(command))
        print(f"wrote {path}\nwrote {md}")


def _cmd_build_components(args: argparse.Namespace) -> int:
    from effdl_kit.data import build_component_dataset

    check_rows_fit("--n", args.n, COMPONENT_ROW_BYTES)
    with _build_executor(args) as executor:
        df = build_component_dataset(n=args.n, scale=args.scale, seed=args.seed,
                                     path=args.out, max_workers=args.workers,
                                     executor=executor, progress=True)
    ok = int((df["status"] == "ok").sum()) if len(df) else 0
    print(f"{args.out}: {len(df)} rows ({ok} ok, {len(df) - ok} failed)")
    return 0


def _cmd_build_traces(args: argparse.Namespace) -> int:
    from effdl_kit.experiments.bttackler import build_trace_dataset

    with _build_executor(args) as executor:
        rows = build_trace_dataset(scale=args.scale, seed=args.seed, path=args.out,
                                   max_workers=args.workers, executor=executor, progress=True)
    ok = sum(1 for r in rows if r.get("status") == "ok")
    print(f"{args.out}: {len(rows)} traces ({ok} ok, {len(rows) - ok} failed)")
    return 0


def _cmd_build_latency(args: argparse.Namespace) -> int:
    from effdl_kit.data import build_latency_dataset

    check_rows_fit("--n", args.n, LATENCY_ROW_BYTES)
    # the builder's floor of timed calls (for slow modules) follows a smaller --repeats, so
    # "--repeats 3" is not refused for a parameter the command line does not have
    floor = inspect.signature(build_latency_dataset).parameters["min_repeats"].default
    with _dask(args.scheduler) as executor:
        df = build_latency_dataset(
            [m for m in args.module_types.split(",") if m], n=args.n, device=args.device,
            seed=args.seed, path=args.out, warmup=args.warmup, repeats=args.repeats,
            min_repeats=max(1, min(args.repeats, floor)),
            threads=args.threads, block=args.block, progress=not args.no_progress,
            executor=executor)
    ok = int((df["status"] == "ok").sum()) if len(df) else 0
    print(f"{args.out}: {ok} ok rows of {len(df)}")
    return 0


def _cmd_env(args: argparse.Namespace) -> int:
    from effdl_kit._core.env import collect_env

    env = collect_env()
    print(json.dumps(env.to_dict(), indent=2) if args.json else env.summary())
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from effdl_kit.experiments import SUMMARY_FILE, experiment_options, run_experiment

    options: dict[str, Any] = {"storage": args.storage, "study_prefix": args.study_prefix,
                               "device": args.device}
    if args.scheduler is not None:
        options["executor"] = args.scheduler
    allowed = experiment_options(args.name)
    for key, flag in (("executor", "--scheduler"), ("storage", "--storage"),
                      ("study_prefix", "--study-prefix"), ("device", "--device")):
        if options.get(key) is not None and key not in allowed:
            raise ConfigError(flag, options[key], f"left out: {args.name!r} does not take it "
                              f"(experiments that do: {', '.join(_taking(key)) or 'none'})")
    if args.storage is not None:
        check_storage(args.storage)  # driver, server, credentials, folder: before any work
    with _dask(args.scheduler) as executor:
        options["executor"] = executor
        summary = run_experiment(args.name, scale=args.scale, seed=args.seed, out=args.out,
                                 **options)
    exp_dir = Path(args.out) / args.name
    print(f"{args.name}: {args.scale} scale, seed {args.seed}, {summary.wall_time_s:.1f} s")
    for f in [*summary.figures, *summary.tables, SUMMARY_FILE]:
        print(f"  {exp_dir / f}")
    return 0


def _taking(option: str) -> list[str]:
    """The registered experiments that take ``option``."""
    from effdl_kit.experiments import experiment_options, list_experiments

    return [n for n in list_experiments() if option in experiment_options(n)]


def _cmd_figures_readme(readme: Path, *, check: bool) -> int:
    from effdl_kit.reports import ReadmeSyncError, check_readme, sync_readme

    root = readme.resolve().parent
    problems = check_readme(readme, root)
    if check or not problems:
        for p in problems:
            print(p)
        print(f"{readme}: {len(problems)} difference(s) from the result files")
        return 1 if problems else 0
    try:
        sync_readme(readme, root)
    except ReadmeSyncError as e:
        for p in e.problems:
            print(p, file=sys.stderr)
        return 1
    for p in problems:
        print(f"updated {p}")
    print(f"{readme}: {len({p.ref for p in problems})} block(s) synced from the result files")
    return 0


def _cmd_figures(args: argparse.Namespace) -> int:
    if args.check and args.readme is None:
        print("error: --check needs --readme", file=sys.stderr)
        return 2
    if args.readme is not None:
        return _cmd_figures_readme(Path(args.readme), check=args.check)
    from effdl_kit.experiments import redraw_experiments

    outcomes = redraw_experiments(args.out)
    if not outcomes:
        print(f"no experiment results (summary.json) under {args.out}")
    for o in outcomes:
        if o.skipped:
            print(f"{o.name} ({o.directory}): skipped, {o.skipped}")
            continue
        print(f"{o.name} ({o.directory}):")
        for p in o.paths:
            print(f"  {p}")
    return 0


def _cmd_notebooks(args: argparse.Namespace) -> int:
    from effdl_kit.experiments import run_notebooks

    run_notebooks(args.dir, scale=args.scale, seed=args.seed, out=args.out,
                  timeout=args.timeout, progress=True)
    return 0


_COMMANDS = {
    "env": _cmd_env,
    "reproduce": _cmd_reproduce,
    "figures": _cmd_figures,
    "notebooks": _cmd_notebooks,
    "build-components": _cmd_build_components,
    "build-traces": _cmd_build_traces,
    "build-latency": _cmd_build_latency,
    "recommend": _cmd_recommend,
}


def main(argv: Sequence[str] | None = None, *, prog: str = "effdl") -> int:
    """Run ``effdl`` with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name.
    prog : str
        Program name shown in usage and error messages.

    Returns
    -------
    int
        0 on success; 2 on bad arguments, a kit, system, storage or memory error (one
        ``error: ...`` line printed on stderr); 1 on an unexpected exception (one line too);
        130 when interrupted. With ``--debug`` an exception is re-raised instead.
    """
    parser = build_parser(prog)
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if getattr(args, "debug", False):
            raise
        urls = [getattr(args, "storage", None), getattr(args, "scheduler", None)]
        storage = getattr(args, "storage", None)
        paths = {flag: getattr(args, attr, None) for flag, attr in
                 (("--out", "out"), ("--storage", "storage"), ("--dir", "dir"),
                  ("--readme", "readme"))}
        line, status = describe_error(exc, flags=_FIELD_FLAGS.get(args.command, {}),
                                      paths=paths,
                                      storage=redact(storage, urls) if storage else None)
        print(f"{prog}: error: {redact(line, urls)}", file=sys.stderr)
        return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
