"""PostgreSQL for MLflow's and Prefect's databases (``dioptra-lab up --postgres [URL]``).

SQLite serves one laptop; under load its single writer makes the Prefect server answer 503
("database is locked") and MLflow wait. ``up --postgres`` puts both on PostgreSQL: a server the
stack starts itself (Debian's ``postgresql`` package: ``initdb`` once, then ``postgres`` on a
free port of the stack's address, user ``dioptra`` with a password generated into
``<home>/postgres_password``, owner-only), or the server at a URL given
(``postgresql://user:password@host:port``). Either way the databases ``mlflow`` and ``prefect``
are created when missing. The machine's own PostgreSQL service is never touched.

PostgreSQL refuses to run as root: as root, the stack's server runs as Debian's ``postgres``
user, with its data in ``/var/tmp/dioptra-lab-postgres-<id of the home>`` (a folder that user
can reach; a root-owned home usually is not).
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
from pathlib import Path
from urllib.parse import urlsplit

from dioptra_lab.config import masked_url
from dioptra_lab.errors import ServiceError
from dioptra_lab.processes import port_open, stop_pid
from dioptra_lab.stack.base import Announce, Service, ensure_secret, quiet

PORT_ENV = "DIOPTRA_LAB_POSTGRES_PORT"
PASSWORD_FILE = "postgres_password"
USER = "dioptra"
DATABASES = ("mlflow", "prefect")
INSTALL = "install it with `sudo apt-get install -y postgresql` (`make test` does this)"


def server_program(name: str) -> str:
    """A PostgreSQL server program from Debian's package (the newest version installed)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise ServiceError(
            f"PostgreSQL's {name} is not installed: {INSTALL}, or give a server: --postgres URL"
        )
    return found[-1]


def _driver() -> object:
    try:
        import psycopg2
    except ImportError as exc:
        raise ServiceError(
            "MLflow and Prefect on PostgreSQL need its drivers: pip install 'dioptra_lab[postgres]'"
        ) from exc
    return psycopg2


def database_url(server: str, database: str, driver: str) -> str:
    """``server`` (``postgresql://user:password@host:port``) with a SQLAlchemy ``driver`` and a
    ``database``: what MLflow (``psycopg2``) and Prefect (``asyncpg``) are given."""
    parts = urlsplit(server)
    return f"postgresql+{driver}://{parts.netloc}/{database}"


def ensure_databases(server: str, timeout: float = 10.0) -> None:
    """Create the databases of MLflow and Prefect on ``server`` when missing.

    Raises:
        ServiceError: the server does not answer or refuses the credentials.
    """
    psycopg2 = _driver()
    try:
        connection = psycopg2.connect(f"{server}/postgres", connect_timeout=int(timeout))  # type: ignore[attr-defined]
    except Exception as exc:
        raise ServiceError(
            f"PostgreSQL at {masked_url(server)} does not answer or refuses the credentials "
            f"({str(exc).strip().splitlines()[0][:200]}); check the URL given to --postgres"
        ) from exc
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT datname FROM pg_database")
            present = {row[0] for row in cursor.fetchall()}
            for name in DATABASES:
                if name not in present:
                    cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()


class PostgresService(Service):
    """The stack's PostgreSQL: a given server, else the stack's own ``postgres`` process."""

    name = "postgres"

    def url(self) -> str | None:
        """The recorded server's URL (``postgresql://…``, with its password) if it answers."""
        url = str(self.state.recorded(self.name).get("url") or "")
        if not url:
            return None
        parts = urlsplit(url)
        own = self.state.recorded(self.name).get("own")
        if own and self.state.pid(self.name) is None:
            return None
        return url if parts.port and port_open(parts.port, parts.hostname or "127.0.0.1") else None

    def ensure(self, given: str | None = None, announce: Announce = quiet, timeout: float = 60.0) -> str:
        """A PostgreSQL server with the databases ``mlflow`` and ``prefect``: ``given`` (a
        ``postgresql://`` URL), else the running one, else the stack's own, started now.

        Raises:
            ServiceError: PostgreSQL or its driver is not installed, the server did not start,
                or the given one does not answer.
        """
        if given:
            if not given.startswith(("postgresql://", "postgres://")):
                raise ServiceError(
                    "--postgres takes a postgresql:// URL with the user, password, host and port, "
                    f"not {masked_url(given)!r}"
                )
            ensure_databases(given)
            self.state.record(self.name, url=given, own=False)
            return given
        url = self.url()
        if url:
            ensure_databases(url)
            return url
        stale = self.state.pid(self.name)
        if stale is not None:  # ours, but not answering: stopped before another starts
            stop_pid(stale)
        _driver()
        data, run_as = self._data_folder()
        password = ensure_secret(self.state.home, PASSWORD_FILE)
        if not (data / "PG_VERSION").is_file():
            announce(f"Creating a PostgreSQL cluster in {data} ...")
            self._initdb(data, password, run_as)
        port = self.state.port(self.name, PORT_ENV)
        host = self.state.host
        url = f"postgresql://{USER}:{password}@{self.state.advertised}:{port}"
        announce(f"Starting PostgreSQL on {host}:{port} (data in {data}) ...")
        argv = [
            *self._as_user(run_as),
            server_program("postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(data),  # its socket: not /var/run/postgresql, the machine's own server's
            "-c",
            f"listen_addresses={host}",
        ]
        self.state.launch(
            self.name,
            "PostgreSQL",
            argv,
            url,
            lambda: port_open(port, host if host not in ("0.0.0.0", "::") else "127.0.0.1"),
            timeout,
            own=True,
            data=str(data),
        )
        ensure_databases(url)
        return url

    def _data_folder(self) -> tuple[Path, str | None]:
        """Where the cluster lives, and the user it runs as (``None``: this one)."""
        if os.geteuid() != 0:
            return self.state.home / "postgres" / "data", None
        try:
            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise ServiceError(
                f"PostgreSQL refuses to run as root and there is no `postgres` user: {INSTALL}"
            ) from exc
        digest = hashlib.sha256(str(self.state.home).encode()).hexdigest()[:12]
        return Path(f"/var/tmp/dioptra-lab-postgres-{digest}") / "data", "postgres"

    @staticmethod
    def _as_user(user: str | None) -> list[str]:
        # setpriv execs the server itself (no parent left between it and our pid file)
        return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--"] if user else []

    def _initdb(self, data: Path, password: str, run_as: str | None) -> None:
        import subprocess
        import tempfile

        data.mkdir(parents=True, exist_ok=True, mode=0o700)
        owner = pwd.getpwnam(run_as) if run_as else None
        with tempfile.NamedTemporaryFile("w", dir=data.parent, prefix=".pw-", delete=True) as pwfile:
            pwfile.write(password)
            pwfile.flush()
            if owner is not None:
                for path in (data.parent, data, Path(pwfile.name)):
                    os.chown(path, owner.pw_uid, owner.pw_gid)
            argv = [
                *self._as_user(run_as),
                server_program("initdb"),
                "-D",
                str(data),
                "-U",
                USER,
                "--pwfile",
                pwfile.name,
            ]
            done = subprocess.run(
                [*argv, "-A", "scram-sha-256", "-E", "UTF8"], capture_output=True, text=True, timeout=120
            )
        if done.returncode != 0:
            raise ServiceError(f"initdb failed: {(done.stderr or done.stdout).strip()[-500:]}")
