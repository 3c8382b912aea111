"""Standalone Voila runs no code a page sends; the dashboards are never served by the Lab server.

A dashboard's page talks to its kernel through a websocket. Standalone Voila forwards only
widget (comm) and kernel-info messages, so an ``execute_request`` sent on that websocket by a
hostile script must run nothing. The same message sent to a kernel of the Lab server must run
(the control: it proves the message is one a kernel executes), which is why the dashboards for
people who do not program are served by standalone Voila with its own token and never through
the Lab server's ``/voila/render``. No browser is needed: the test speaks the websocket itself.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import websocket  # websocket-client, a dependency of jupyter_server

from tests.e2e.conftest import REPO, Server

pytestmark = pytest.mark.e2e


def message(msg_type: str, content: dict[str, Any]) -> str:
    """A Jupyter message for the websocket's JSON protocol, on the shell channel."""
    header = {
        "msg_id": uuid.uuid4().hex,
        "msg_type": msg_type,
        "session": uuid.uuid4().hex,
        "username": "attacker",
        "version": "5.3",
        "date": "2026-01-01T00:00:00Z",
    }
    return json.dumps(
        {
            "header": header,
            "parent_header": {},
            "metadata": {},
            "content": content,
            "channel": "shell",
            "buffers": [],
        }
    )


def execute(code: str) -> str:
    return message(
        "execute_request",
        {"code": code, "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False},
    )


def replies(ws: websocket.WebSocket, until: str, seconds: float) -> list[dict[str, Any]]:
    """The kernel's messages up to a reply of type ``until`` (and one more second), at most ``seconds``."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ws.settimeout(max(deadline - time.monotonic(), 0.05))
        try:
            frame = ws.recv()
        except websocket.WebSocketTimeoutException:
            break
        if isinstance(frame, str):
            got.append(json.loads(frame))
            if got[-1].get("header", {}).get("msg_type") == until:
                deadline = min(deadline, time.monotonic() + 1.0)
    return got


def writes_marker(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').write('executed')"


def wait_for(path: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.1)
    return path.exists()


def test_standalone_voila_runs_no_code_a_page_sends(voila_dashboard: Server, tmp_path: Path) -> None:
    # Render a dashboard as a browser would: Voila starts its kernel and names it in the page.
    with urllib.request.urlopen(voila_dashboard.address("voila/render/results.ipynb"), timeout=120) as resp:
        page = resp.read().decode()
    kernel = re.search(r'"kernelId": "([0-9a-f-]{36})"', page)
    assert kernel, "no kernel id in the rendered page"
    ws_url = voila_dashboard.url.replace("http://", "ws://")
    ws = websocket.create_connection(
        f"{ws_url}/api/kernels/{kernel.group(1)}/channels?token={voila_dashboard.token}", timeout=10
    )
    try:
        marker = tmp_path / "voila-executed"
        ws.send(execute(writes_marker(marker)))
        # allowed, and answered after the execute_request would have been (shell messages are
        # handled in order): its reply shows the channel reaches the kernel
        ws.send(message("kernel_info_request", {}))
        got = replies(ws, "kernel_info_reply", 20)
    finally:
        ws.close()
    types = [m.get("msg_type") or m.get("header", {}).get("msg_type") for m in got]
    assert "kernel_info_reply" in types, f"the kernel did not answer on this websocket: {types}"
    assert "execute_input" not in types, types
    assert "execute_reply" not in types, types
    assert not marker.exists(), "standalone Voila executed code sent by a page"


def test_the_same_message_runs_on_a_lab_kernel(jupyter_lab: Server, tmp_path: Path) -> None:
    """The control: a Lab server's kernel executes that message (so the test above means something)."""
    request = urllib.request.Request(
        jupyter_lab.address("api/kernels"), data=b'{"name": "python3"}', method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as resp:
        kernel = json.loads(resp.read())["id"]
    ws_url = jupyter_lab.url.replace("http://", "ws://")
    try:
        ws = websocket.create_connection(
            f"{ws_url}/api/kernels/{kernel}/channels?token={jupyter_lab.token}", timeout=30
        )
        try:
            marker = tmp_path / "lab-executed"
            ws.send(execute(writes_marker(marker)))
            assert wait_for(marker, 60), "the Lab kernel did not execute the message"
        finally:
            ws.close()
    finally:
        urllib.request.urlopen(
            urllib.request.Request(jupyter_lab.address(f"api/kernels/{kernel}"), method="DELETE"), timeout=30
        ).close()


def test_the_token_stays_private_and_is_required(voila_dashboard: Server, stack_home: Path) -> None:
    token_file = stack_home / "voila.token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert voila_dashboard.token not in (stack_home / "stack.json").read_text()
    pid = int((stack_home / "pids" / "voila.pid").read_text())
    assert voila_dashboard.token not in Path(f"/proc/{pid}/cmdline").read_text()  # `ps` shows it to all
    for path in ("voila/api/contents/", "voila/render/results.ipynb"):
        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open(f"{voila_dashboard.url}/{path}", timeout=30)
        assert refused.value.code in (302, 403), path  # refused, or sent to the login page


def test_dashboard_command_prints_the_address_with_the_token(voila_dashboard: Server) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dioptra-lab"), "dashboard", "results", "-p", "experiment=x"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    url = f"{voila_dashboard.url}/voila/render/results.ipynb?token={voila_dashboard.token}&experiment=x"
    assert url in done.stdout


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None
