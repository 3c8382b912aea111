"""Hello-world tasks as a Dioptra plugin: the bodies of tests/fixtures/plugins/hello_plugin/tasks.py.

Registered with Dioptra's pyplugs; their declarations are the ``tasks:`` section of
``hello_dioptra.yaml`` (``benchmarks/dioptra_anchor.py`` turns it into the REST API's task
declarations). Runs in Dioptra's own virtual environment only.
"""

from dioptra import pyplugs


@pyplugs.register
def hello(name: str) -> str:
    """Say hello to someone."""
    return f"Hello, {name}"


@pyplugs.register
def greet(greeting: str, name: str = "world") -> str:
    """Greet someone with a chosen greeting."""
    return f"{greeting}, {name}"


@pyplugs.register
def shout(message: str) -> str:
    """Upper-case a message and add an exclamation mark."""
    return message.upper() + "!"


@pyplugs.register
def split(message: str) -> tuple[str, str]:
    """Split off the first word (the body of ``split_words``: Dioptra's API names a task after its
    function, and the graph calls the task ``split``)."""
    first, _, rest = message.partition(" ")
    return first, rest
