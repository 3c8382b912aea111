"""The Jupyter server extension: the REST API under ``/dioptra-lab/api/v1/``.

Every handler calls :mod:`dioptra_lab.api` (in a thread) and serves the ``to_json()`` of
the views of :mod:`dioptra_lab.models`; nothing is implemented here twice. The routes are
one table (:data:`dioptra_lab.server.routes.ROUTES`) from which the tornado handlers, the
OpenAPI document (``openapi.json``) and the tests are generated.

Enabled by ``jupyter-config/jupyter_server_config.d/dioptra_lab.json`` (installed into
``etc/jupyter``), or ``jupyter server extension enable dioptra_lab``. Importing this package
is cheap: tornado, jupyter_server and the API load when the server loads the extension.
"""

from __future__ import annotations

from typing import Any

from dioptra_lab.server.spec import PREFIX


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "dioptra_lab.server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Add the REST API's handlers to a running Jupyter server (its ``base_url`` respected).

    The server is interactive: its MLflow calls fail fast (a dead MLflow is a 503 within
    seconds, :func:`dioptra_lab.tracking.client.fail_fast`), while the kernels it starts for
    notebooks keep MLflow's usual patience (:func:`_patient_kernels`).
    """
    from dioptra_lab.server.routes import install
    from dioptra_lab.tracking.client import fail_fast

    fail_fast()
    _patient_kernels(serverapp)
    install(serverapp.web_app)
    serverapp.log.info("dioptra_lab: REST API at %s%s/", serverapp.base_url, PREFIX)


def _patient_kernels(serverapp: Any) -> None:
    """Give the notebooks' kernels the MLflow settings the server had before :func:`fail_fast`
    (their environment is the server's own, through the session manager's ``get_kernel_env``)."""
    from dioptra_lab.tracking.client import patient_environment

    sessions = getattr(serverapp, "session_manager", None)
    own = getattr(sessions, "get_kernel_env", None)
    if sessions is None or own is None:
        return

    def kernel_env(*args: Any, **kwargs: Any) -> dict[str, str]:
        return {**own(*args, **kwargs), **patient_environment()}

    sessions.get_kernel_env = kernel_env


# the name older Jupyter servers (and `notebook` 6) look for
load_jupyter_server_extension = _load_jupyter_server_extension
