"""The ``dioptra-lab`` command. Errors print as one clear message, without a traceback."""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dioptra_lab import cli_jobs, cli_stack
from dioptra_lab.cli_common import err, parse_assignments, table
from dioptra_lab.config import masked_url
from dioptra_lab.errors import DioptraLabError

Handler = Callable[[argparse.Namespace], int]


def print_run_results(results: dict[str, Any]) -> None:
    """Print the step times and final results recorded by a compiled notebook."""
    rows = []
    for step in results.get("steps", []):
        took = (
            "cached"
            if step.get("cached")
            else (f"{step['seconds']:.3f}s" if step.get("seconds") is not None else "-")
        )
        rows.append([step["name"], step["task"], took])
    print(table(rows, ["step", "task", "time"]))
    print(f"\ntotal: {results.get('seconds', 0):.2f}s")
    print("results:")
    for name, value in results.get("results", {}).items():
        print(f"  {name} = {json.dumps(value, default=str)}")


# -- entry point commands ------------------------------------------------------------
def cmd_validate(args: argparse.Namespace) -> int:
    from dioptra_lab.api import validate

    info = validate(args.file)
    judged = " (judged by Dioptra's rules: it has `tasks:`)" if info.dioptra else ""
    print(
        f"{args.file}: valid {info.kind} entry point '{info.name}' "
        f"({len(info.parameters)} parameters, {len(info.steps)} steps){judged}"
    )
    for p in info.parameters:
        default = "required" if p.required else f"default {p.default!r}"
        print(f"  {p.name}: {p.type} ({default})")
    for w in info.warnings:
        print(f"  warning: {w.place + ': ' if w.place else ''}{w.message}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from dioptra_lab.api import import_dioptra

    report = import_dioptra(args.source, args.output, config=args.config, force=args.force)
    print(report.text())
    plugins, entrypoints = report.output / "plugins", report.output / "entrypoints"
    print(f"\nnext: DIOPTRA_LAB_PLUGIN_PATH={plugins} dioptra-lab validate {entrypoints}/NAME.yaml")
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from dioptra_lab.api import compile as compile_entrypoint

    compile_entrypoint(args.file, args.output)
    print(f"compiled {args.file} -> {args.output}")
    return 0


def default_output(home: Path, file: str) -> Path:
    """Where `run` writes the executed notebook when -o is not given."""
    return home / "runs" / f"{Path(file).stem}-{time.strftime('%Y%m%d-%H%M%S')}.ipynb"


def cmd_run(args: argparse.Namespace) -> int:
    from dioptra_lab.config import load_settings
    from dioptra_lab.engine.kernels import SHELF, claim_kernel, release_kernel
    from dioptra_lab.engine.notebook_run import (
        execute_notebook,
        import_papermill_without_hdfs,
        prepare_in_kernel,
    )
    from dioptra_lab.engine.results import read_results
    from dioptra_lab.stack import Stack

    settings = load_settings()
    assignments = parse_assignments(args.param)
    kernel = claim_kernel(settings.home / SHELF)  # the stack's warm kernel, if it keeps one
    try:
        prepared = None
        if kernel is not None:  # it loads the entry point and its plugins: this process does not
            try:
                prepared = prepare_in_kernel(kernel, args.file, assignments)
                import_papermill_without_hdfs()  # this process imports no plugin: safe here
            except RuntimeError as exc:
                err(f"[dioptra-lab] the warm kernel is not usable ({exc}); starting a new one")
                release_kernel(kernel)
                kernel = None
        if prepared is None:
            from dioptra_lab.entrypoints import load_entrypoint
            from dioptra_lab.entrypoints.compile import compile_entrypoint

            ep = load_entrypoint(args.file).validate()
            prepared = compile_entrypoint(ep), ep.coerce(assignments, from_text=True)
        notebook, values = prepared
        Stack(settings).ensure_prefect(announce=err)
        output = Path(args.output) if args.output else default_output(settings.home, args.file)
        how = f"in a warm kernel (pid {kernel.pid})" if kernel else "in a new kernel"
        err(f"Running {args.file} with Papermill {how} -> {output}")
        executed = execute_notebook(
            notebook,
            output,
            parameters=values,
            timeout=args.timeout,
            stdout=sys.stdout,
            stderr=sys.stderr,
            kernel=kernel,
        )
    finally:
        if kernel is not None:
            release_kernel(kernel)
    results = read_results(executed)
    if results is not None:
        print_run_results(results)
    print(f"executed notebook: {output}")
    return 0


QUICKSTART = Path("examples") / "quickstart.yaml"
DEMO_SWEEP = {"eps": ["0", "0.05", "0.1", "0.2", "0.3"]}
DEMO_EXPERIMENT = "quickstart"
DEMO_COLUMNS = [
    "run_id",
    "eps",
    "clean_accuracy",
    "adversarial_accuracy",
    "attack_success_rate",
    "perturbation_l2_mean",
]


def cmd_demo(args: argparse.Namespace) -> int:
    from dioptra_lab.cli_jobs import results_rows, wait_and_report
    from dioptra_lab.cli_stack import print_connection_help
    from dioptra_lab.jobs import submit_sweep
    from dioptra_lab.stack import Stack

    if not QUICKSTART.is_file():
        raise DioptraLabError(f"{QUICKSTART} not found: run `dioptra-lab demo` from the repository root")
    err("dioptra_lab demo: the quickstart sweep on the embedded stack\n")
    stack = Stack()
    urls = stack.up(workers=args.workers, announce=err)
    sweep = submit_sweep(
        QUICKSTART, DEMO_SWEEP, parse_assignments(args.param), experiment=DEMO_EXPERIMENT, from_text=True
    )
    grid = ", ".join(f"{k}={'/'.join(v)}" for k, v in DEMO_SWEEP.items())
    err(f"\nSubmitted sweep {sweep.id}: {len(sweep.jobs)} jobs of {QUICKSTART} over {grid}")
    code = wait_and_report(sweep.jobs)
    headers, rows = results_rows(DEMO_EXPERIMENT)
    keep = [r for r in rows if r[0] in {j.id for j in sweep.jobs}]
    columns = [c for c in DEMO_COLUMNS if c in headers]
    shown = sorted(([row[headers.index(c)] for c in columns] for row in keep), key=lambda r: float(str(r[1])))
    print(
        f"\nResults (experiment '{DEMO_EXPERIMENT}'; all columns: `dioptra-lab results {DEMO_EXPERIMENT}`):"
    )
    print(table([[str(c)[:12] for c in row] for row in shown], columns))
    curve = save_demo_curve(headers, keep, stack.home)
    if curve:
        print(f"\nRobustness curve (adversarial accuracy against eps): {curve}")
    if not args.no_lab:  # after the sweep, so that it does not compete with the jobs for the CPU
        stack.ensure_lab(announce=err)
        urls["lab"] = stack.lab_url() or ""
    print_connection_help(urls, stack.home)
    return code


def save_demo_curve(headers: list[str], rows: list[list[object]], home: Path) -> Path | None:
    """Draw the sweep's robustness curve to ``<home>/demo_robustness.png``."""
    from dioptra_lab.plots import robustness_figure

    if "eps" not in headers or "adversarial_accuracy" not in headers:
        return None
    i, j = headers.index("eps"), headers.index("adversarial_accuracy")
    points = [(float(str(r[i])), float(str(r[j]))) for r in rows if r[j] not in ("", None)]
    if not points:
        return None
    path = home / "demo_robustness.png"
    robustness_figure([p[0] for p in points], [p[1] for p in points], "FGSM on the digits").savefig(path)
    return path


# -- plugins -------------------------------------------------------------------------
def cmd_plugins_list(args: argparse.Namespace) -> int:
    from dioptra_lab.api import broken_plugins, list_tasks
    from dioptra_lab.plugins import get_registry

    rows = [[t.name, t.qualname, t.description] for t in list_tasks()]
    print(table(rows, ["task", "qualified name", "description"]) if rows else "no tasks found")
    print(f"\nplugin path: {', '.join(str(p) for p in get_registry().plugin_path) or '(none)'}")
    broken = broken_plugins()
    if broken:
        print("\nbroken plugins (their tasks are unavailable):")
        for plugin in broken:
            print(f"  {plugin.module} ({plugin.location}): {plugin.reason}")
    return 0


def cmd_plugins_show(args: argparse.Namespace) -> int:
    from dioptra_lab.api import task_info

    info = task_info(args.task)
    print(f"{info.name}  ({info.qualname})")
    print(f"\n{info.doc or '(no docstring)'}\n")
    rows = [
        [i.name, i.type, "required" if i.required else repr(i.default), i.description] for i in info.inputs
    ]
    print(table(rows, ["input", "type", "default", "description"]) if rows else "inputs: none")
    outs = ", ".join(f"{o.name}: {o.type}" for o in info.outputs) or "none"
    unpacked = len(info.outputs) > 1
    print(f"\noutputs: {outs}" + ("  (unpacked from the returned tuple)" if unpacked else ""))
    extras = [f"retries={info.retries}"] + (["cached"] if info.cache else [])
    print("options: " + ", ".join(extras))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``dioptra-lab`` (subcommands as in DESIGN.md)."""
    parser = argparse.ArgumentParser(prog="dioptra-lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check an entry point; every problem at once")
    p.add_argument("file")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("import", help="import a Dioptra resource repository (folder or git URL)")
    p.add_argument("source", help="a folder or git URL holding a dioptra.toml")
    p.add_argument("-o", "--output", required=True, help="the folder to write (must be empty)")
    p.add_argument("--config", default="dioptra.toml", help="the config file in the source")
    p.add_argument("--force", action="store_true", help="write into a folder that is not empty")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("compile", help="compile an entry point to a Papermill notebook")
    p.add_argument("file")
    p.add_argument("-o", "--output", required=True, help="the notebook to write")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("run", help="run an entry point locally with Papermill (no queue)")
    p.add_argument("file")
    p.add_argument("-p", "--param", action="append", metavar="NAME=VALUE", help="a parameter value")
    p.add_argument("-o", "--output", help="executed notebook (default: <home>/runs/…)")
    p.add_argument("--timeout", type=float, default=None, help="seconds allowed per cell")
    p.set_defaults(func=cmd_run)

    plugins = sub.add_parser("plugins", help="list or show tasks").add_subparsers(
        dest="plugins_command", required=True, metavar="ACTION"
    )
    p = plugins.add_parser("list", help="every task, and plugins that failed to import")
    p.set_defaults(func=cmd_plugins_list)
    p = plugins.add_parser("show", help="one task's inputs, types, defaults and outputs")
    p.add_argument("task")
    p.set_defaults(func=cmd_plugins_show)

    p = sub.add_parser("demo", help="the quickstart experiment on the embedded stack")
    p.add_argument("-p", "--param", action="append", metavar="NAME=VALUE", help="a parameter value")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--no-lab", action="store_true", help="do not start JupyterLab at the end")
    p.set_defaults(func=cmd_demo)
    cli_stack.add_commands(sub)
    cli_jobs.add_commands(sub)
    return parser


PATIENT_COMMANDS = {"worker", "run"}
"""Commands that run jobs (a worker, a local run): MLflow's calls keep their patience there.
Every other command is interactive and fails fast when a service is down."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code.

    Errors print as one line on stderr, exit code 1: ours (:class:`DioptraLabError`), and a
    dead or hung MLflow or Redis (:func:`dioptra_lab.tracking.client.service_error`), which
    interactive commands meet within seconds (:func:`~dioptra_lab.tracking.client.fail_fast`).
    """
    # jsonschema (under nbformat) imports rfc3987_syntax when it is installed, which builds
    # ~35 Lark parsers at import: 1-2 s of every command that touches a notebook
    # (python-jsonschema/jsonschema#1428). No command checks IRI formats: skip it.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    args = build_parser().parse_args(argv)
    handler: Handler = args.func
    warnings.showwarning = lambda message, *_args, **_kw: err(f"warning: {message}")
    restore = None
    if args.command not in PATIENT_COMMANDS:
        from dioptra_lab.tracking.client import fail_fast

        restore = fail_fast()
    try:
        return handler(args)
    except DioptraLabError as exc:
        err(f"error: {masked_url(str(exc))}")
        return 1
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except Exception as exc:
        from dioptra_lab.tracking.client import service_error

        failure = service_error(exc)
        if failure is not None:
            err(f"error: {failure}")
            return 1
        if type(exc).__module__.startswith("mlflow"):  # an answer of MLflow's, not a bug of ours
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            err(f"error: MLflow: {masked_url(first)[:500]}")
            return 1
        raise
    finally:
        if restore is not None:
            restore()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
