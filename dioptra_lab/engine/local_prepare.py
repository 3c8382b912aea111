"""A local run's entry point, loaded, checked and compiled in the warm kernel that runs it.

``dioptra-lab run`` with the stack's warm kernel (:func:`~dioptra_lab.engine.kernels.claim_kernel`)
sends the entry point's file and the ``-p`` values to the kernel, which loads the file,
discovers the plugins on the plugin path (their heavy libraries, numpy, torch, scikit-learn,
are imported there already), checks the values and compiles the notebook; the command line then runs that
notebook in the same kernel with Papermill. The command's own process imports no plugin: on
2 cores that was most of a local run (~1.1 s of the hello graph's 2.2 s with the test plugins,
whose scikit-learn the kernel has already imported).

The kernel is fresh and serves this one run, so importing the plugins there is what the
notebook's first cell would have done anyway: the run sees the plugins' files as they are now.

This half runs in the kernel; the command's half is
:func:`dioptra_lab.engine.notebook_run.prepare_in_kernel`.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

from dioptra_lab.errors import DioptraLabError


def prepare_here(file: str, assignments: dict[str, str]) -> str:
    """Load, check and compile ``file`` with the text values ``assignments`` (``-p NAME=VALUE``).

    Runs in the kernel, after it was moved into the command's working folder and environment.
    Returns JSON: ``notebook`` (the compiled notebook, as text), ``parameters`` (the checked
    values, JSON-ready for Papermill) and ``warnings`` (what loading said: a plugin that failed
    to import, a Dioptra rule) or, where the entry point or a value is bad, ``error`` (the
    message the command line prints) and ``warnings``. Any other exception propagates: it is a
    bug, and the caller shows it.
    """
    import nbformat

    from dioptra_lab.engine.results import to_jsonable
    from dioptra_lab.entrypoints import load_entrypoint
    from dioptra_lab.entrypoints.compile import compile_entrypoint
    from dioptra_lab.plugins.registry import set_registry

    set_registry(None)  # the plugin path of the command's environment, not the warm-up's
    answer: dict[str, Any]
    with warnings.catch_warnings(record=True) as caught:
        try:
            ep = load_entrypoint(file).validate()
            values = ep.coerce(assignments, from_text=True)
            answer = {"notebook": nbformat.writes(compile_entrypoint(ep)), "parameters": to_jsonable(values)}
        except DioptraLabError as exc:
            answer = {"error": str(exc)}
    answer["warnings"] = [str(w.message) for w in caught]
    return json.dumps(answer)
