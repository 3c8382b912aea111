"""Settings: where the stack's files live, where plugins are found, and the service URLs.

Precedence, highest first: environment variables, the stack's settings file
(``<home>/stack.json``, written by ``dioptra-lab up``), the project's ``dioptra_lab.toml``,
built-in defaults. The project is found by walking up from the working folder to the
first folder that holds a ``.dioptra_lab/`` stack folder, a ``dioptra_lab.toml`` or a
``pyproject.toml`` (like git finds ``.git``), so a kernel started in ``notebooks/``, the
command line and a widget find the same stack anywhere inside a project. A worker on
another host finds it through the environment variables.

A stack started with ``dioptra-lab up --host ADDRESS`` has passwords on MLflow and Prefect too
(Redis always has one); :func:`load_settings` puts them where MLflow's and Prefect's clients
read them (:data:`CREDENTIAL_ENVS`), for the stack's own servers only: a server configured by
its environment variable gets the credentials configured beside it, never the stack's.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dioptra_lab.errors import ConfigError

HOME_ENV = "DIOPTRA_LAB_HOME"
PLUGIN_PATH_ENV = "DIOPTRA_LAB_PLUGIN_PATH"
REDIS_URL_ENV = "DIOPTRA_LAB_REDIS_URL"
PREFECT_URL_ENV = "PREFECT_API_URL"
MLFLOW_URI_ENV = "MLFLOW_TRACKING_URI"
MLFLOW_USER_ENV = "MLFLOW_TRACKING_USERNAME"
MLFLOW_PASSWORD_ENV = "MLFLOW_TRACKING_PASSWORD"
PREFECT_AUTH_ENV = "PREFECT_API_AUTH_STRING"
CREDENTIAL_ENVS = (MLFLOW_USER_ENV, MLFLOW_PASSWORD_ENV, PREFECT_AUTH_ENV)
"""Where MLflow's client (basic auth) and Prefect's (``user:password``) read credentials."""
MLFLOW_CREDENTIALS_KEY = "mlflow_credentials"
PREFECT_CREDENTIALS_KEY = "prefect_auth_string"
"""stack.json's keys for the stack's own MLflow and Prefect credentials (``user:password``)."""
CONFIG_FILE = "dioptra_lab.toml"
DEFAULT_HOME = ".dioptra_lab"
STACK_FILE = "stack.json"


@dataclass
class Settings:
    """Resolved settings. Build with :func:`load_settings`."""

    home: Path
    plugin_path: list[Path]
    prefect_api_url: str | None = None
    redis_url: str | None = None
    mlflow_tracking_uri: str | None = None
    default_queue: str = "cpu"
    default_experiment: str = "Default"
    project_root: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def stack_file(self) -> Path:
        """The settings file ``dioptra-lab up`` writes for other processes to read."""
        return self.home / STACK_FILE


def find_project_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` with a stack folder or a project file.

    A ``.dioptra_lab/`` folder or a ``dioptra_lab.toml`` marks a project; failing those,
    the nearest ``pyproject.toml``; failing that, ``start`` itself.
    """
    start = start.resolve()
    candidates = [start, *start.parents]
    for folder in candidates:
        if (folder / DEFAULT_HOME).is_dir() or (folder / CONFIG_FILE).is_file():
            return folder
    for folder in candidates:
        if (folder / "pyproject.toml").is_file():
            return folder
    return start


def _read_toml(root: Path) -> dict[str, Any]:
    path = root / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix or remove the file") from exc
    section = data.get("dioptra_lab", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: expected a [dioptra_lab] table")
    return section


def read_stack_file(home: Path) -> dict[str, Any]:
    """Return the contents of ``<home>/stack.json``, or ``{}`` when there is none."""
    path = home / STACK_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"{path}: unreadable stack settings ({exc}); run `dioptra-lab down` then `up`"
        ) from exc
    return data if isinstance(data, dict) else {}


def write_stack_file(home: Path, data: dict[str, Any]) -> None:
    """Write ``<home>/stack.json`` atomically, readable by its owner only (it holds the
    Redis URL with its password)."""
    write_private(home / STACK_FILE, json.dumps(data, indent=2, sort_keys=True))


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text`` in a file only its owner can read.

    The new file is created owner-only (never readable by others, not even for a moment)
    beside ``path`` under a unique name, then renamed over it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_URL_PASSWORD = re.compile(r"(//[^:/@\s]*:)[^@/\s]+@")


def masked_url(text: str) -> str:
    """``text`` with the password of every URL in it hidden: ``redis://:***@host:port/0``."""
    return _URL_PASSWORD.sub(r"\1***@", text)


def _split_path(value: str, base: Path) -> list[Path]:
    return [(base / p).resolve() for p in value.split(os.pathsep) if p.strip()]


def _export_stack_credentials(stack: dict[str, Any]) -> None:
    """The stack's own MLflow and Prefect credentials, where their clients in this process
    (and the processes it starts) read them; never for a server configured elsewhere, and
    never over credentials set explicitly."""
    if not os.environ.get(MLFLOW_URI_ENV) and stack.get(MLFLOW_CREDENTIALS_KEY):
        user, _, password = str(stack[MLFLOW_CREDENTIALS_KEY]).partition(":")
        os.environ.setdefault(MLFLOW_USER_ENV, user)
        os.environ.setdefault(MLFLOW_PASSWORD_ENV, password)
    if not os.environ.get(PREFECT_URL_ENV) and stack.get(PREFECT_CREDENTIALS_KEY):
        os.environ.setdefault(PREFECT_AUTH_ENV, str(stack[PREFECT_CREDENTIALS_KEY]))


def load_settings(cwd: Path | None = None) -> Settings:
    """Resolve the settings for the current process (see the module docstring).

    Paths in environment variables are relative to the working folder; paths in the
    project's ``dioptra_lab.toml`` and the defaults are relative to the project's root.
    """
    here = Path(cwd or os.getcwd())
    root = find_project_root(here)
    toml = _read_toml(root)
    if os.environ.get(HOME_ENV):
        home = (here / os.environ[HOME_ENV]).resolve()
    else:
        home = (root / str(toml.get("home") or DEFAULT_HOME)).resolve()
    if os.environ.get(PLUGIN_PATH_ENV):
        plugin_path = _split_path(os.environ[PLUGIN_PATH_ENV], here)
    else:
        plugin_value = toml.get("plugin_path") or "plugins"
        if isinstance(plugin_value, list):
            plugin_value = os.pathsep.join(str(p) for p in plugin_value)
        plugin_path = _split_path(str(plugin_value), root)
    stack = read_stack_file(home)
    _export_stack_credentials(stack)
    return Settings(
        home=home,
        plugin_path=plugin_path,
        prefect_api_url=os.environ.get(PREFECT_URL_ENV) or stack.get("prefect_api_url"),
        redis_url=os.environ.get(REDIS_URL_ENV) or stack.get("redis_url"),
        mlflow_tracking_uri=os.environ.get(MLFLOW_URI_ENV) or stack.get("mlflow_tracking_uri"),
        default_queue=str(toml.get("queue", "cpu")),
        default_experiment=str(toml.get("experiment", "Default")),
        project_root=root,
        extra=stack,
    )
