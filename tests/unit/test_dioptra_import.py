"""``dioptra-lab import``: a Dioptra resource repository (rebuilt here in the layout of
Dioptra's ``extra/`` folder, from its documented ``dioptra.toml`` format) becomes plugins on
our plugin path and complete Dioptra-format entry points, with a report of what was not
carried over."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from dioptra_lab.cli import main
from dioptra_lab.entrypoints import load_entrypoint
from dioptra_lab.entrypoints.dioptra_import import import_dioptra
from dioptra_lab.errors import DioptraLabError
from dioptra_lab.plugins import Registry

TOML = """
[[plugins]]
path = "plugins/hello_world_dioptra"
description = "Hello-world tasks"

[[plugins.tasks.functions]]
filename = "tasks.py"
name = "hello"
input_params = [{ name = "name", type = "string", required = true }]
output_params = [{ name = "message", type = "message" }]

[[plugins.tasks.functions]]
filename = "tasks.py"
name = "repeat"
input_params = [
  { name = "message", type = "string" },
  { name = "times", type = "integer", required = false },
]
output_params = [{ name = "text", type = "string" }]

[[plugins.tasks.artifacts]]
filename = "tasks.py"
name = "ShoutArtifactTask"
output_params = [{ name = "text", type = "string" }]

[[plugin_param_types]]
name = "message"
structure = { is_a = "string" }

[[entrypoints]]
path = "examples/hello-world.yaml"
name = "hello-world"
description = "Say hello, twice"
params = [
  { name = "who", type = "string", default_value = "Ada" },
  { name = "times", type = "integer", default_value = "2" },
  { name = "loud", type = "boolean", default_value = "true" },
]
plugins = ["hello_world_dioptra"]
artifact_params = [{ name = "earlier", output_params = [{ name = "text", type = "string" }] }]

[[entrypoints]]
path = "examples/odd.yaml"
name = "odd"
params = [{ name = "where", type = "path" }]
plugins = ["hello_world_dioptra", "missing_plugin"]
queues = ["tensorflow-cpu"]
"""

TASKS = '''
"""Written for Dioptra: pyplugs tasks and an artifact task, no dioptra_lab import."""
from pathlib import Path

from dioptra import pyplugs
from dioptra.sdk.api.artifact import ArtifactTaskInterface


@pyplugs.register
def hello(name: str) -> str:
    return f"Hello, {name}"


@pyplugs.register
def repeat(message: str, times: int = 1) -> str:
    return " ".join([message] * times)


class ShoutArtifactTask(ArtifactTaskInterface):
    @staticmethod
    def serialize(working_dir, name, contents, **kwargs):
        path = Path(working_dir) / f"{name}.txt"
        path.write_text(str(contents).upper())
        return path

    @staticmethod
    def deserialize(working_dir, path, **kwargs):
        return (Path(working_dir) / path).read_text()

    @staticmethod
    def validation():
        return None
'''

HELLO_GRAPH = """
graph:
  greeting:
    hello: [$who]
  twice:
    repeat:
      message: $greeting
      times: $times
artifacts:
  shouted:
    contents: $twice
    task:
      name: ShoutArtifactTask
"""


def make_repository(root: Path, plugin_name: str = "hello_world_dioptra") -> Path:
    """The repository; ``plugin_name`` differs between tests of one process (a package name
    is imported once per process)."""
    plugin = root / "plugins" / plugin_name
    plugin.mkdir(parents=True)
    (plugin / "tasks.py").write_text(textwrap.dedent(TASKS))  # no __init__.py, as in Dioptra
    (root / "examples").mkdir()
    (root / "examples" / "hello-world.yaml").write_text(HELLO_GRAPH)
    (root / "examples" / "odd.yaml").write_text("graph:\n  a:\n    hello: [x]\n")
    (root / "dioptra.toml").write_text(TOML.replace("hello_world_dioptra", plugin_name))
    return root


def test_a_resource_repository_becomes_plugins_and_complete_descriptions(tmp_path: Path) -> None:
    repo = make_repository(tmp_path / "repo")
    report = import_dioptra(repo, tmp_path / "out")
    out = tmp_path / "out"
    assert report.plugins == ["hello_world_dioptra"]
    assert report.tasks == ["hello_world_dioptra.hello", "hello_world_dioptra.repeat"]
    assert report.artifact_tasks == ["hello_world_dioptra.ShoutArtifactTask"]
    assert (out / "plugins" / "hello_world_dioptra" / "tasks.py").read_text() == textwrap.dedent(TASKS)
    assert (out / "plugins" / "hello_world_dioptra" / "__init__.py").exists()
    written = yaml.safe_load((out / "entrypoints" / "hello-world.yaml").read_text())
    assert written == {
        "name": "hello-world",
        "description": "Say hello, twice",
        "types": {"message": {"is_a": "string"}},
        "parameters": {
            "who": {"type": "string", "default": "Ada"},
            "times": {"type": "integer", "default": 2},
            "loud": {"type": "boolean", "default": True},
        },
        "artifact_inputs": {"earlier": {"text": "string"}},
        "tasks": {
            "hello": {
                "plugin": "hello_world_dioptra.tasks.hello",
                "inputs": [{"name": "name", "type": "string"}],
                "outputs": {"message": "message"},
            },
            "repeat": {
                "plugin": "hello_world_dioptra.tasks.repeat",
                "inputs": [
                    {"name": "message", "type": "string"},
                    {"name": "times", "type": "integer", "required": False},
                ],
                "outputs": {"text": "string"},
            },
        },
        "graph": {
            "greeting": {"hello": ["$who"]},
            "twice": {"repeat": {"message": "$greeting", "times": "$times"}},
        },
        "artifact_outputs": {"shouted": {"contents": "$twice", "task": {"name": "ShoutArtifactTask"}}},
    }
    ep = load_entrypoint(out / "entrypoints" / "hello-world.yaml", Registry([out / "plugins"]))
    assert ep.problems == []
    assert ep.dioptra
    assert ep.artifact_outputs["shouted"].artifact_task is not None
    assert ep.steps["twice"].spec is not None
    assert ep.steps["twice"].spec.qualname == "hello_world_dioptra.tasks.repeat"
    # what could not be carried over is named, each with its reason
    assert report.not_carried == [
        "entry point odd: parameter 'where' has unknown type 'path'",
        "entry point odd: parameter 'where' (path) has no default; typed any",
        "entry point odd: plugin 'missing_plugin' is not in [[plugins]]",
        "entry point odd: queues ['tensorflow-cpu'] are not kept (submit with --queue)",
    ]
    assert "not carried over (4):" in (out / "import-report.txt").read_text()


def test_import_from_a_git_url_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_repository(tmp_path / "repo", "hello_world_cli")
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    for command in (["init", "-q"], ["add", "."], ["commit", "-qm", "resources"]):
        subprocess.run(["git", *command], cwd=repo, env=env, check=True)
    assert main(["import", f"file://{repo}", "-o", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "entry points (2):" in printed
    assert "hello-world: entrypoints/hello-world.yaml" in printed
    assert (tmp_path / "out" / "plugins" / "hello_world_cli" / "tasks.py").exists()
    assert "everything" not in printed  # odd.yaml's items are listed
    assert "failed to load" not in printed


def test_bad_sources_are_refused_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DioptraLabError, match="neither a folder nor a git URL"):
        import_dioptra(tmp_path / "nowhere", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DioptraLabError, match="no dioptra.toml in .*is this a Dioptra resource repository"):
        import_dioptra(tmp_path / "empty", tmp_path / "out")
    (tmp_path / "empty" / "dioptra.toml").write_text("[[plugins]\n")
    with pytest.raises(DioptraLabError, match="dioptra.toml is not valid TOML"):
        import_dioptra(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(DioptraLabError, match="cannot clone"):
        import_dioptra(f"file://{tmp_path}/no-such-repo.git", tmp_path / "out")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(DioptraLabError, match="is not empty"):
        import_dioptra(make_repository(tmp_path / "repo"), tmp_path / "full")
    traversal = make_repository(tmp_path / "repo2")
    (traversal / "dioptra.toml").write_text('[[plugins]]\npath = "../../etc"\n')
    report = import_dioptra(traversal, tmp_path / "out2")
    assert report.not_carried == ["plugin: '../../etc' leaves the repository"]
    assert report.plugins == []


def test_older_layouts_and_declarations_that_do_not_match_the_files(tmp_path: Path) -> None:
    """`[[plugins.tasks]]` (an array of function tasks, as in older resource repositories) is
    read as `tasks.functions`; an artifact plugin the entry point names but the repository
    does not hold, an artifact task whose class is not in its file and a type defined twice,
    differently, are each named in the report."""
    repo = make_repository(tmp_path / "repo", "hello_world_older")
    toml = (repo / "dioptra.toml").read_text()
    toml = toml.replace("[[plugins.tasks.functions]]", "[[plugins.tasks]]")
    toml = toml.replace(
        '[[plugins.tasks.artifacts]]\nfilename = "tasks.py"\nname = "ShoutArtifactTask"\n'
        'output_params = [{ name = "text", type = "string" }]\n',
        "",
    )
    toml += textwrap.dedent(
        """
        [[plugins]]
        path = "plugins/more_artifacts"
        tasks.artifacts = [
          { filename = "tasks.py", name = "ShoutArtifactTask", output_params = [] },
          { filename = "tasks.py", name = "WhisperArtifactTask", output_params = [] },
        ]

        [[plugin_param_types]]
        name = "message"
        structure = { list = "string" }

        [[plugin_param_types]]
        name = "message"
        structure = { is_a = "string" }
        """
    )
    toml = toml.replace(
        'plugins = ["hello_world_older"]\n',
        'plugins = ["hello_world_older"]\nartifact_plugins = ["nowhere"]\n',
        1,
    )
    (repo / "dioptra.toml").write_text(toml)
    (repo / "plugins" / "more_artifacts").mkdir()
    shout = TASKS[TASKS.index("class ShoutArtifactTask") :]
    (repo / "plugins" / "more_artifacts" / "tasks.py").write_text(
        "from pathlib import Path\nfrom dioptra.sdk.api.artifact import ArtifactTaskInterface\n\n\n" + shout
    )
    report = import_dioptra(repo, tmp_path / "out")
    assert report.tasks == ["hello_world_older.hello", "hello_world_older.repeat"]
    assert report.artifact_tasks == ["more_artifacts.ShoutArtifactTask", "more_artifacts.WhisperArtifactTask"]
    assert (
        "plugin_param_types: 'message' is defined twice, differently; the first is kept" in report.not_carried
    )
    assert "entry point hello-world: artifact plugin 'nowhere' is not in [[plugins]]" in report.not_carried
    assert [line for line in report.not_carried if line.startswith("artifact task")] == [
        "artifact task more_artifacts.WhisperArtifactTask: no artifact-task class WhisperArtifactTask in "
        "more_artifacts.tasks (the name in dioptra.toml must be a class with serialize and deserialize)"
    ]
    written = yaml.safe_load((tmp_path / "out" / "entrypoints" / "hello-world.yaml").read_text())
    assert written["tasks"]["hello"]["plugin"] == "hello_world_older.tasks.hello"
    assert written["types"] == {"message": {"is_a": "string"}}
