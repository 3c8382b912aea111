"""Redis, the queue's store: a child ``redis-server`` with AOF persistence under ``<home>``.

The stack's own Redis always requires a password (whoever reaches an open Redis can queue
jobs, and a worker runs them): generated once into ``<home>/redis_password`` (owner-only),
given to ``redis-server`` in an owner-only config file (never on its command line, which
every user can read), and carried by the URL the stack records in stack.json (owner-only)
and prints in `up`'s export line: ``redis://:PASSWORD@127.0.0.1:PORT/0``. Every client that
reads the settings uses it unchanged. A configured ``DIOPTRA_LAB_REDIS_URL`` is used as given.
"""

from __future__ import annotations

import os
import shutil
from urllib.parse import urlsplit

from dioptra_lab.config import write_private
from dioptra_lab.errors import ServiceError
from dioptra_lab.stack.base import Announce, Service, ensure_secret, quiet

URL_ENV = "DIOPTRA_LAB_REDIS_URL"
PORT_ENV = "DIOPTRA_LAB_REDIS_PORT"
PASSWORD_FILE = "redis_password"
"""The stack's Redis password, in ``<home>``: made once, kept across restarts."""
CONFIG_FILE = "redis.conf"
"""The config file (in Redis's data folder) that hands the password to ``redis-server``."""


def redis_healthy(url: str) -> bool:
    """Whether the Redis at ``url`` answers a PING."""
    # Imported here: `import dioptra_lab.stack` must stay cheap for the CLI and kernels.
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        return bool(Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2).ping())
    except (RedisError, OSError, ValueError):
        return False


class RedisService(Service):
    """The stack's Redis: the configured one, else the stack's own ``redis-server``."""

    name = "redis"

    def url(self) -> str | None:
        """The stack's Redis URL if it answers."""
        url = self.candidate_url(self.state.settings.redis_url)
        return url if url and redis_healthy(url) else None

    def ensure(self, announce: Announce = quiet, timeout: float = 30.0) -> str:
        """A Redis that answers: the configured one, or a child ``redis-server`` with AOF on.

        Args:
            announce: Receives progress lines for people.
            timeout: Seconds to wait for a new server to answer.

        Returns:
            Its URL.

        Raises:
            ServiceError: The configured Redis does not answer, redis-server is not
                installed, or it did not start.
        """
        url = self.url()
        if url:
            if not os.environ.get(URL_ENV) and urlsplit(url).password is None:
                announce(
                    "warning: the stack's Redis was started without a password (by an older "
                    "dioptra-lab); `dioptra-lab down` then `dioptra-lab up` restarts it with one"
                )
            return url
        self.state.replace_stale(self.name, URL_ENV)
        server = shutil.which("redis-server")
        if server is None:
            raise ServiceError(
                "redis-server is not installed: install it with `sudo apt-get install -y redis-server` "
                f"(`make setup` does this), or point {URL_ENV} at a running Redis"
            )
        port = self.state.port(self.name, PORT_ENV)
        data = self.state.home / "redis"
        data.mkdir(parents=True, exist_ok=True)
        password = ensure_secret(self.state.home, PASSWORD_FILE)
        config = data / CONFIG_FILE
        write_private(config, f'requirepass "{password}"\n')  # a token_urlsafe: nothing to escape
        host = self.state.host
        url = f"redis://:{password}@{self.state.advertised}:{port}/0"
        announce(f"Starting Redis on {host}:{port} (password on; AOF persistence in {data}) ...")
        # AOF fsynced every second: queued jobs survive a crash of the stack. RDB snapshots
        # are off (--save ""): AOF alone restores the data, without fork pauses.
        argv = [
            server,
            str(config),  # the password, kept off the command line
            "--port",
            str(port),
            "--bind",
            host,
            "--dir",
            str(data),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--daemonize",
            "no",
        ]
        self.state.launch(self.name, "Redis", argv, url, lambda: redis_healthy(url), timeout, data=str(data))
        return url
