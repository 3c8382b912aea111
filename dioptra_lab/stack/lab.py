"""JupyterLab with the dioptra_lab extension, as part of the stack.

``dioptra-lab up`` starts ``jupyter lab`` on the project's root (``--no-lab`` leaves it out):
the Dioptra Lab side panel, the "Submit to queue" button and the REST API under
``/dioptra-lab/api/v1`` are there, and Voila's server extension serves the dashboards at
``/voila/render/…`` on the same server, for the Lab's own user.

Like the dashboards' Voila, it listens on 127.0.0.1 with a token kept in ``<home>/lab.token``
(owner-only) that reaches the server through ``JUPYTER_TOKEN_FILE``, so it never shows on a
command line; the address in ``stack.json`` carries no token, :meth:`LabService.page_url` adds it.
The server's kernels find the stack through ``DIOPTRA_LAB_HOME``.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from dioptra_lab.processes import http_ok
from dioptra_lab.stack.base import Announce, JupyterService, ensure_secret, executable, quiet

PORT_ENV = "DIOPTRA_LAB_LAB_PORT"
TOKEN_FILE = "lab.token"


class LabService(JupyterService):
    """The stack's JupyterLab server (with the dioptra_lab server and Lab extensions)."""

    name = "lab"
    token_file = TOKEN_FILE

    def healthy(self, url: str, token: str) -> bool:
        return lab_healthy(url, token)

    def page_url(self, path: str = "lab") -> str | None:
        """An address in the Lab with the token, e.g. ``…/lab?token=…`` (``None`` if it is down)."""
        url = self.url()
        token = self.token()
        if url is None or token is None:
            return None
        return f"{url}/{path.lstrip('/')}?token={quote(token)}"

    def ensure(self, announce: Announce = quiet, timeout: float = 90.0, root: Path | None = None) -> str:
        """Return the address of a Lab server that answers, starting the stack's own if needed.

        Args:
            announce: Receives progress lines for people.
            timeout: Seconds to wait for a new server to answer.
            root: The folder it serves (default: the project's root).

        Raises:
            ServiceError: JupyterLab did not start (with its log's tail).
        """
        url = self.url()
        if url:
            return url
        folder = Path(root or self.state.settings.project_root or Path.cwd()).resolve()
        self.state.replace_stale(self.name, PORT_ENV)
        port = self.state.port(self.name, PORT_ENV)
        url = f"http://127.0.0.1:{port}"
        token = ensure_secret(self.state.home, TOKEN_FILE)
        announce(f"Starting JupyterLab on {url} for {folder} ...")
        argv = [
            executable("jupyter"),
            "lab",
            "--no-browser",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={folder}",
            # the extension is enabled by the package's jupyter-config file; say it here too,
            # so a Lab started by the stack has the REST API whatever the user's config says
            "--ServerApp.jpserver_extensions=dioptra_lab=True",
            # research hosts are often offline: no news feed, no update check
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            argv.append("--allow-root")  # containers and CI run as root
        self.state.launch(
            self.name,
            "JupyterLab",
            argv,
            url,
            lambda: lab_healthy(url, token),
            timeout,
            self.server_env(),
            root=str(folder),
            ui=f"{url}/lab",
        )
        announce(f"JupyterLab ready: {url}/lab?token=…  (`dioptra-lab status` shows the full link)")
        return url


def lab_healthy(url: str, token: str, timeout: float = 2.0) -> bool:
    """Whether the Lab server at ``url`` answers our REST API with ``token``."""
    return http_ok(f"{url}/dioptra-lab/api/v1/openapi.json?token={quote(token)}", timeout)
