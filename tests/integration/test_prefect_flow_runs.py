"""What the Prefect server records of our flows, now that a flow run costs two requests.

Our client answers three of the five requests Prefect's engine makes per flow run from what
it already has (``prefect_api._Shortcuts``): these tests read the server with a plain Prefect
client of their own and check that it still holds the whole run, that a deleted flow is
created again, and that a run the engine does not start as usual is left to the server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dioptra_lab.engine.prefect_api import prefect_session
from dioptra_lab.engine.runner import run_entrypoint
from dioptra_lab.entrypoints import load_entrypoint, load_entrypoint_text
from dioptra_lab.errors import StepFailedError
from dioptra_lab.plugins import Registry
from tests.conftest import ENTRYPOINTS

pytestmark = pytest.mark.integration


@pytest.fixture
def server(prefect_server: str, stack_home: Any) -> Iterator[Any]:
    """A plain Prefect client (Prefect's own transport) to read what the server holds."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        yield client


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(method, path) of every request a server answers over HTTP from now on, except the
    answers 503 that our client sends again at once (SQLite busy: the server did nothing)."""
    requests: list[tuple[str, str]] = []
    handle = httpx.HTTPTransport.handle_request

    def recording(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        response = handle(self, request)
        if response.status_code != 503:
            requests.append((request.method, request.url.path))
        return response

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", recording)
    return requests


def _task_runs(server: Any, flow_run_id: Any, expected: int, timeout: float = 20.0) -> list[Any]:
    """The flow run's task runs, once the server has recorded ``expected`` of them (it
    records task runs from events, in batches)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + timeout
    while True:
        found = server.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        if len(found) >= expected and all(t.state and t.state.is_final() for t in found):
            return list(found)
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(found)} of {expected} task runs recorded: {found}")
        time.sleep(0.2)


def test_a_flow_run_costs_two_requests_and_the_server_keeps_all_of_it(
    prefect_server: str, registry: Registry, server: Any, sent: list[tuple[str, str]]
) -> None:
    ep = load_entrypoint(ENTRYPOINTS / "hello_dioptra.yaml")
    run_entrypoint(ep, {"name": "ann"}, quiet=True)  # a first run may also ask for the flow
    sent.clear()
    result = run_entrypoint(ep, {"name": "bob"}, quiet=True)
    assert [method for method, _ in sent] == ["POST", "POST"], sent
    assert sent[0][1].endswith("/flow_runs/")
    assert sent[1][1].endswith(f"/flow_runs/{result.flow_run_id}/set_state")

    run = server.read_flow_run(result.flow_run_id)
    assert run.state.is_completed()
    assert run.run_count == 1
    assert run.parameters == {"parameters": {"name": "bob", "greeting": "Goodbye"}}
    assert run.start_time is not None
    assert run.end_time is not None
    assert run.start_time <= run.end_time
    states = [s.type.value for s in server.read_flow_run_states(result.flow_run_id)]
    assert states == ["RUNNING", "COMPLETED"]  # created Running: no Pending state
    assert server.read_flow(run.flow_id).name == f"dioptra-lab-{ep.name}"
    tasks = _task_runs(server, result.flow_run_id, len(ep.steps))
    assert sorted(t.name.rsplit("-", 1)[0] for t in tasks) == sorted(ep.steps)
    assert all(t.state.is_completed() for t in tasks)


def test_a_failed_run_is_failed_on_the_server(prefect_server: str, registry: Registry, server: Any) -> None:
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    ep = load_entrypoint(ENTRYPOINTS / "failing.yaml")
    with pytest.raises(StepFailedError):
        run_entrypoint(ep, {"divisor": 0}, quiet=True)
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=5)  # the failure's log lines, sent while the server runs
    runs = server.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[f"dioptra-lab-{ep.name}"])))
    latest = max(runs, key=lambda r: r.created)
    assert latest.state.is_failed(), latest.state
    assert latest.run_count == 1
    assert latest.start_time is not None


def test_a_deleted_flow_is_created_again(prefect_server: str, registry: Registry, server: Any) -> None:
    ep = load_entrypoint_text("graph:\n  only:\n    hello: ann\n", name="deleted_flow").validate()
    first = run_entrypoint(ep, {}, quiet=True)
    flow_id = server.read_flow_run(first.flow_run_id).flow_id
    server.delete_flow(flow_id)  # its runs go with it

    second = run_entrypoint(ep, {}, quiet=True)  # our client knew the old id
    run = server.read_flow_run(second.flow_run_id)
    assert run.flow_id != flow_id
    assert server.read_flow(run.flow_id).name == "dioptra-lab-deleted_flow"
    assert run.state.is_completed()


def test_runs_the_engine_does_not_start_as_usual_go_to_the_server(prefect_server: str, server: Any) -> None:
    """Created Pending and failed before Running; created Scheduled: the server decides."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Failed, Pending, Running, Scheduled

    from dioptra_lab.config import load_settings

    @flow(name="dioptra-lab-shortcut-edges")
    def edges() -> None:
        """Never called: a flow to create runs of."""

    with prefect_session(prefect_server, load_settings().home / "cache"):
        ours = get_client(sync_client=True)  # the session's client, with our transport
        created = ours.create_flow_run(edges, state=Pending())
        assert created.state.is_running()  # a top-level run is created Running
        failed = ours.set_flow_run_state(created.id, Failed(message="before it ran"))
        assert failed.state.is_failed()
        assert ours.read_flow_run(created.id).state.is_failed()  # read from the server
        assert server.read_flow_run(created.id).state.is_failed()

        later = ours.create_flow_run(edges, state=Scheduled(scheduled_time=None))
        assert later.state.is_scheduled()  # not a plain Pending run: created as asked
        assert server.read_flow_run(later.id).state.is_scheduled()

        started = ours.create_flow_run(edges, state=Pending())
        ours.set_flow_run_state(started.id, Running())  # answered here, as the engine's
        assert ours.read_flow_run(started.id).state.is_running()
        done = ours.set_flow_run_state(started.id, Failed(message="x"))
        assert done.state.is_failed()
        assert server.read_flow_run(started.id).state.is_failed()
