"""One exception root for everything a user of dioptra_lab can cause.

Every message says what was wrong and what to do about it; the command line
prints them without a traceback and exits non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dioptra_lab.models import Failure


class DioptraLabError(Exception):
    """Root of every error dioptra_lab raises on purpose."""


class ConfigError(DioptraLabError):
    """A setting (environment variable, settings file) is missing or malformed."""


class NotFoundError(DioptraLabError):
    """Something asked for by name does not exist: a task, a job, an experiment, a file.

    The REST API answers these with 404.
    """


class NotReadyError(DioptraLabError):
    """Something asked for does not exist yet (a job's executed notebook before the job ends).

    The REST API answers these with 409.
    """


class PluginError(DioptraLabError):
    """A plugin or task cannot be used."""


class UnknownTaskError(PluginError, NotFoundError):
    """A task name matches no registered task."""

    def __init__(self, name: str, suggestions: list[str], hint: str = "") -> None:
        self.name = name
        self.suggestions = suggestions
        message = f"unknown task {name!r}"
        if suggestions:
            message += "; did you mean " + ", ".join(repr(s) for s in suggestions) + "?"
        else:
            message += "; run `dioptra-lab plugins list` to see the registered tasks"
        if hint:
            message += f" ({hint})"
        super().__init__(message)


class ParameterError(DioptraLabError):
    """One or more parameter values are invalid; `problems` lists every one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            super().__init__(self.problems[0])
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            super().__init__(f"{len(self.problems)} invalid parameters:\n{lines}")


@dataclass(frozen=True)
class Problem:
    """One validation problem and where it is (e.g. ``graph.train.kwargs.epochs``)."""

    place: str
    message: str

    def __str__(self) -> str:
        return f"{self.place}: {self.message}" if self.place else self.message

    def to_json(self) -> dict[str, str]:
        """``{"message": …, "place": …}``, as the REST API and the widgets show it."""
        return {"message": self.message, "place": self.place}


class EntryPointError(DioptraLabError):
    """An entry point cannot be loaded or is invalid; `problems` lists every problem."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {count} {noun}:\n{lines}")


class UnknownJobError(NotFoundError):
    """A job id matches no job (no MLflow run has that id)."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"no job with id {job_id!r}; `dioptra-lab jobs list` shows the recent jobs")


class UnknownExperimentError(NotFoundError):
    """An experiment name matches no MLflow experiment."""


class StepFailedError(DioptraLabError):
    """A step of a graph raised; carries the step, exception name and message."""

    def __init__(self, step: str, task: str, ename: str, evalue: str) -> None:
        self.step = step
        self.task = task
        self.ename = ename
        self.evalue = evalue
        super().__init__(f"step {step!r} (task {task}) failed: {ename}: {evalue}")


class ExecutionError(DioptraLabError):
    """A notebook failed while Papermill executed it; ``failure`` says where and why."""

    def __init__(self, message: str, failure: Failure) -> None:
        self.failure = failure
        self.step = failure.step
        self.ename = failure.exception
        self.evalue = failure.message
        super().__init__(message)


class ServiceError(DioptraLabError):
    """A service of the stack (Redis, MLflow, Prefect, workers) is missing or unreachable."""


class OptionError(DioptraLabError):
    """A submission option (queue, experiment, timeout, retries) is invalid; nothing was created."""


class DioptraLabWarning(UserWarning):
    """Something works but probably not as meant (a job queued where no worker serves it).

    The command line prints these as one line (``warning: …``).
    """


def brief(value: object, limit: int = 60) -> str:
    """``repr(value)`` on one line and at most ``limit`` characters, for messages.

    Never raises (a value whose ``repr`` fails, or an int too long to print, is named by its
    type), so that a message about a bad value can always be written.
    """
    try:
        text = repr(value)
    except Exception:  # a huge int (ValueError), a broken __repr__
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: max(limit - 3, 1)] + "..."


def first_line(text: str, limit: int = 200) -> str:
    """The first line of ``text``, at most ``limit`` characters (an exception's message, say)."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."
