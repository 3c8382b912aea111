"""Voila, the dashboards for people who do not program: standalone, with a token, offline.

The stack serves ``notebooks/dashboards`` with **standalone** Voila, never through the Lab
server's ``/voila/render``: measured with Voila 0.5.13, a page served by the Lab server can
make its kernel execute code it sends (``execute_request``) with the Lab token's rights,
while standalone Voila only forwards widget (comm) messages to the kernel.

The token lives in ``<home>/voila.token`` (owner-only) and reaches Voila through
``JUPYTER_TOKEN_FILE``, so it never appears on a command line other users can read, and the
address recorded in ``stack.json`` carries no token. Pages render offline: the template
``dioptra`` (shipped beside this module, in ``voila_jupyter/``) is Voila's ``lab`` template
without the Font Awesome links it fetches from a CDN and without the MathJax and Mermaid
loaders; Voila's own MathJax plugin gets a local stand-in script instead of its CDN address;
only the widgets' Lab extensions are loaded. The browser tests record every request a page
makes and find none leaving 127.0.0.1.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from dioptra_lab.errors import ServiceError
from dioptra_lab.processes import http_ok
from dioptra_lab.stack.base import Announce, JupyterService, ensure_secret, executable, quiet, read_secret

PORT_ENV = "DIOPTRA_LAB_VOILA_PORT"
TOKEN_FILE = "voila.token"
TEMPLATE = "dioptra"
# A folder laid out like a Jupyter data directory (voila/templates/dioptra/), put first on
# JUPYTER_PATH for the Voila process so that `--template=dioptra` finds it.
JUPYTER_DATA = Path(__file__).parent / "voila_jupyter"
# The only Lab extensions a dashboard needs: the widgets and Voila's manager of them. The
# others (the project's own Lab panel among them) would call APIs Voila does not have.
EXTENSIONS = ["@jupyter-widgets/jupyterlab-manager", "@voila-dashboards/widgets-manager8"]
# Voila's MathJax loader gets a local stand-in instead of its CDN default.
MATHJAX_URL = f"/voila/templates/{TEMPLATE}/static/mathjax-offline.js"
DASHBOARDS = ("notebooks", "dashboards")


def read_token(home: Path) -> str | None:
    """The dashboards' token recorded under ``home``, if any."""
    return read_secret(home, TOKEN_FILE)


def ensure_token(home: Path) -> str:
    """The dashboards' token: the recorded one, else a new one in an owner-only file."""
    return ensure_secret(home, TOKEN_FILE)


def dashboards_folder(project_root: Path | None) -> Path:
    """The folder of dashboard notebooks of the project at ``project_root``."""
    return Path(project_root or Path.cwd()).joinpath(*DASHBOARDS)


class VoilaService(JupyterService):
    """The stack's standalone Voila server over the project's ``notebooks/dashboards``."""

    name = "voila"
    token_file = TOKEN_FILE

    def healthy(self, url: str, token: str) -> bool:
        return voila_healthy(url, token)

    def page_url(self, name: str = "launcher", **query: str) -> str | None:
        """The address of one dashboard with the token, e.g. ``…/voila/render/launcher.ipynb?token=…``."""
        return self.page_urls([name], **query)[0]

    def page_urls(self, names: list[str], **query: str) -> list[str | None]:
        """The address of each dashboard with the token (``None`` for all when Voila is down);
        one health check for them all."""
        url = self.url()
        token = self.token()
        if url is None or token is None:
            return [None for _ in names]
        return [dashboard_url(url, token, name, **query) for name in names]

    def ensure(self, announce: Announce = quiet, timeout: float = 60.0, root: Path | None = None) -> str:
        """Return the address of a Voila server that answers, starting the stack's own if needed.

        Args:
            announce: Receives progress lines for people.
            timeout: Seconds to wait for a new server to answer.
            root: The folder of dashboards it serves (default: the project's
                ``notebooks/dashboards``).

        Raises:
            ServiceError: There is no dashboards folder, or Voila did not start.
        """
        url = self.url()
        if url:
            return url
        folder = (root or dashboards_folder(self.state.settings.project_root)).resolve()
        if not folder.is_dir():
            raise ServiceError(
                f"no dashboards folder at {folder}; run `dioptra-lab dashboard` inside the project "
                "that has notebooks/dashboards"
            )
        self.state.replace_stale(self.name, PORT_ENV)
        port = self.state.port(self.name, PORT_ENV)
        url = f"http://127.0.0.1:{port}"
        token = ensure_token(self.state.home)
        announce(f"Starting the dashboards (standalone Voila) on {url} for {folder} ...")
        argv = [
            executable("voila"),
            str(folder),
            "--no-browser",
            f"--port={port}",
            "--Voila.ip=127.0.0.1",
            "--token",  # auto_token: the identity provider then reads JUPYTER_TOKEN_FILE
            f"--template={TEMPLATE}",
            "--theme=light",
            *(f"--VoilaConfiguration.extension_allowlist={name}" for name in EXTENSIONS),
            f"--Voila.mathjax_url={MATHJAX_URL}",
        ]
        jupyter_path = os.pathsep.join(p for p in (str(JUPYTER_DATA), os.environ.get("JUPYTER_PATH")) if p)
        # (the dashboards' working folder is notebooks/dashboards: relative settings would not do)
        env = {**self.server_env(), "JUPYTER_PATH": jupyter_path}
        self.state.launch(
            self.name,
            "Voila (dashboards)",
            argv,
            url,
            lambda: voila_healthy(url, token),
            timeout,
            env,
            root=str(folder),
            plugin_path=env["DIOPTRA_LAB_PLUGIN_PATH"],
        )
        announce(f"Dashboards ready: {dashboard_url(url, token, 'launcher')}")
        return url


def voila_healthy(url: str, token: str, timeout: float = 2.0) -> bool:
    """Whether the Voila server at ``url`` answers a request authenticated with ``token``."""
    return http_ok(f"{url}/voila/api/contents/?token={quote(token)}", timeout)


def dashboard_url(url: str, token: str, name: str = "launcher", **query: str) -> str:
    """The address of dashboard ``name`` (``launcher``, ``results``) with the token and presets."""
    notebook = name if name.endswith(".ipynb") else f"{name}.ipynb"
    params = "".join(f"&{quote(k)}={quote(str(v))}" for k, v in query.items())
    return f"{url}/voila/render/{quote(notebook)}?token={quote(token)}{params}"
