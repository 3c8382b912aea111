"""Differential fuzzing of Dioptra's format: random descriptions judged by us and by NIST Dioptra.

Each case is a random experiment description with a ``tasks:`` section, drawn from a grammar
of the format's pieces (types of every kind, parameters short and long, tasks with short- and
long-form inputs, ``required:``, outputs, positional/keyword/mixed steps, references good and
bad, dependencies, artifact inputs and outputs) with mistakes mixed in. Dioptra's validator
(``tests/dioptra_validator.py``) and ours must give the same verdict on every one.

    python -m tests.reliability.dioptra_differential --cases 2000 --seed 1

prints the agreement and the first disagreements (and exits 1 if there is one);
``tests/unit/test_dioptra_corpus.py`` runs a sample.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

SIMPLE = ["any", "string", "integer", "number", "boolean", "null"]
PLUGIN = "corpus_plugin.tasks.echo"
BAD_PLUGINS = ["echo", "a..b"]
MISTAKE = 0.03  # the chance of each deliberate mistake


class Draw:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.type_names: list[str] = []

    def chance(self, p: float) -> bool:
        return self.r.random() < p

    def pick(self, items: list[Any]) -> Any:
        return self.r.choice(items)

    def mistake(self) -> bool:
        return self.r.random() < MISTAKE

    def type_ref(self, before: str | None = None) -> str:
        """A type name; inside the definition of ``before``, only types defined earlier."""
        if self.mistake():
            return self.pick(["undefined_t", *self.type_names])
        names = self.type_names if before is None else self.type_names[: self.type_names.index(before)]
        return self.pick(SIMPLE + names * 2)

    def type_def(self, name: str, depth: int = 0) -> Any:
        kind = self.pick(["null", "is_a", "list", "tuple", "map_enum", "map_kv", "union"])

        def inner() -> Any:
            return self.type_ref(name) if depth > 1 or self.chance(0.6) else self.type_def(name, depth + 1)

        if kind == "null":
            return None if depth == 0 else self.type_ref(name)
        if kind == "is_a":
            return {"is_a": self.type_ref(name)} if depth == 0 else self.type_ref(name)
        if kind == "list":
            return {"list": inner()}
        if kind == "tuple":
            return {"tuple": [inner() for _ in range(self.r.randint(0, 3))]}
        if kind == "map_enum":
            return {
                "mapping": {self.pick(["a", "b", "c", "d"]): inner() for _ in range(self.r.randint(1, 3))}
            }
        if kind == "map_kv":
            key = self.pick(["string", "integer", "string", "number", "boolean"])
            return {"mapping": [key, inner()]}
        members = [inner() for _ in range(self.r.randint(1, 3))]
        if self.chance(0.2) and members:
            members.append(members[0])
        return {"union": members}

    def literal(self, depth: int = 0) -> Any:
        kind = self.pick(
            ["int", "float", "str", "bool", "null", "list", "map", "intmap"] if depth < 2 else ["int", "str"]
        )
        if kind == "int":
            return self.r.randint(-3, 10)
        if kind == "float":
            return self.pick([0.5, 1.0, -2.25])
        if kind == "str":
            return self.pick(["hi", "$", "$$x", "a b"])
        if kind == "bool":
            return self.chance(0.5)
        if kind == "null":
            return None
        if kind == "list":
            return [self.literal(depth + 1) for _ in range(self.r.randint(0, 3))]
        if kind == "map":
            return {
                self.pick(["a", "b", "c", "d"]): self.literal(depth + 1) for _ in range(self.r.randint(0, 3))
            }
        return {self.r.randint(0, 3): self.literal(depth + 1) for _ in range(self.r.randint(1, 2))}

    def parameter(self) -> Any:
        form = self.pick(["short", "short", "typed", "typed_default", "default"])
        if self.mistake():
            form = self.pick(["empty", "odd"])
        if form == "short":
            value = self.literal()
            return value if not isinstance(value, dict) or self.mistake() else [value]
        if form == "typed":
            return {"type": self.type_ref()}
        if form == "typed_default":
            return {"type": self.type_ref(), "default": self.literal()}
        if form == "default":
            return {"default": self.literal()}
        if form == "empty":
            return {}
        return {"type": self.type_ref(), "description": "x"}

    def task(self) -> dict[str, Any]:
        task: dict[str, Any] = {"plugin": self.pick(BAD_PLUGINS) if self.mistake() else PLUGIN}
        names = ["x", "y", "z", "name"]
        self.r.shuffle(names)
        if self.chance(0.85):
            inputs = []
            for index in range(self.r.randint(0, 3)):
                name = self.pick(names) if self.mistake() else names[index]
                if self.chance(0.5) or name == "name":
                    item: dict[str, Any] = {"name": name, "type": self.type_ref()}
                    if self.chance(0.4):
                        item["required"] = self.chance(0.5)
                    if name == "name" and self.mistake():
                        item = {"name": self.type_ref()}  # the ambiguous short form
                    inputs.append(item)
                else:
                    inputs.append({name: self.type_ref()})
            task["inputs"] = inputs
        if self.chance(0.8):
            names = ["out", "res"] if not self.mistake() else ["out", "out"]
            outs = [{names[i]: self.type_ref()} for i in range(self.r.randint(1, 2))]
            task["outputs"] = outs[0] if len(outs) == 1 and self.chance(0.6) else outs
            if self.mistake():
                task["outputs"] = "out"
        return task

    def value(self, refs: list[str], wanted: str | None = None) -> Any:
        fitting = {"string": "hi", "integer": 3, "number": 2.5, "boolean": True, "null": None}
        if wanted in fitting and self.chance(0.5):
            return fitting[wanted]
        if refs and self.chance(0.55):
            return "$" + self.pick(refs)
        if self.mistake():
            return "$nope"
        if self.chance(0.1):
            return [self.value(refs) for _ in range(self.r.randint(0, 2))]
        return self.literal()

    def description(self) -> dict[str, Any]:
        desc: dict[str, Any] = {}
        self.type_names = []
        if self.chance(0.5):
            names = [self.pick(["t1", "t2", "t3", "t4"]) for _ in range(self.r.randint(1, 3))]
            self.type_names = sorted(set(names))
            desc["types"] = {name: self.type_def(name) for name in self.type_names}
        if self.chance(0.7):
            params = {}
            for _ in range(self.r.randint(1, 3)):
                name = self.pick(["s.t", "s1"]) if self.mistake() else self.pick(["p", "q", "r"])
                params[name] = self.parameter()
            desc["parameters"] = params
        tasks = {}
        for _ in range(self.r.randint(1, 3)):
            tasks[self.pick(["f", "g", "h"])] = self.task()
        desc["tasks"] = tasks
        artifact_inputs = {}
        if self.chance(0.2):
            artifact_inputs["art"] = {self.pick(["v", "w"]): self.type_ref()}
            desc["artifact_inputs"] = artifact_inputs
        graph: dict[Any, Any] = {}
        step_names: list[Any] = ["s1", "s2", "s3", "s4"][: self.r.randint(1, 4)]
        if self.mistake():
            step_names.append(self.pick(["a.b", 7, "p"]))
        known_refs = list(desc.get("parameters", {})) + list(artifact_inputs)
        outputs_of_step: dict[Any, list[str]] = {}
        for step in step_names:
            task_name = "zzz" if self.mistake() else self.pick(list(tasks))
            declared = tasks.get(task_name, {}).get("inputs", [])
            input_names = [i["name"] if "name" in i and "type" in i else next(iter(i)) for i in declared]
            input_types = [
                i["type"] if "name" in i and "type" in i else next(iter(i.values())) for i in declared
            ]
            wanted = dict(zip(input_names, input_types, strict=False))
            # mostly earlier steps (a later one may make a cycle), by the outputs they declare
            earlier = [s for s in step_names[: step_names.index(step)] if isinstance(s, str)]
            refs = list(known_refs)
            for other in earlier:
                outputs = outputs_of_step.get(other, [])
                if len(outputs) == 1:
                    refs += [other, f"{other}.{outputs[0]}"]
                else:
                    refs += [f"{other}.{o}" for o in outputs]
                if self.mistake():
                    refs.append(self.pick([other, f"{other}.zz"]))
            if self.mistake():
                refs += [s for s in step_names if isinstance(s, str) and s not in earlier]
            style = self.pick(["positional", "keyword", "mixed"])
            count = len(input_names) + (self.pick([-1, 1]) if self.mistake() else 0)
            if style == "positional":
                body: dict[str, Any] = {
                    task_name: [
                        self.value(refs, wanted.get(n)) for n in (input_names + ["x"])[: max(count, 0)]
                    ]
                }
            elif style == "keyword":
                keys = [n for n in input_names if not self.mistake()] + (["extra"] if self.mistake() else [])
                body = {task_name: {k: self.value(refs, wanted.get(k)) for k in keys}}
            else:
                split = self.r.randint(0, len(input_names))
                body = {
                    "task": task_name,
                    "args": [self.value(refs, wanted.get(n)) for n in input_names[:split]],
                    "kwargs": {
                        k: self.value(refs, wanted.get(k))
                        for k in input_names[max(split - self.mistake(), 0) :]
                    },
                }
            if self.chance(0.15) and (earlier or self.mistake()):
                body["dependencies"] = "nope" if self.mistake() else self.pick(earlier or ["nope"])
            graph[step] = body
            outs = tasks.get(task_name, {}).get("outputs", [])
            outputs_of_step[step] = [
                next(iter(o)) for o in (outs if isinstance(outs, list) else [outs]) if isinstance(o, dict)
            ]
        desc["graph"] = graph
        if self.chance(0.15):
            target = "nope" if self.mistake() else self.pick([s for s in step_names if isinstance(s, str)])
            desc["artifact_outputs"] = {
                "saved": {"contents": f"${target}", "task": {"name": "JsonArtifactTask"}}
            }
        return desc


def cases(count: int, seed: int) -> list[dict[str, Any]]:
    draw = Draw(seed)
    return [{"id": f"d{seed}-{i}", "description": draw.description()} for i in range(count)]


def compare(count: int, seed: int) -> tuple[int, list[dict[str, Any]]]:
    """(agreements, disagreements with both verdicts) on ``count`` random descriptions."""
    from dioptra_lab.entrypoints import load_entrypoint_text
    from dioptra_lab.plugins import Registry
    from tests.conftest import PLUGINS as PLUGIN_FOLDER
    from tests.dioptra_validator import dioptra_verdicts

    drawn = cases(count, seed)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "cases.yaml"
        path.write_text(yaml.safe_dump(drawn, sort_keys=False))
        theirs = dioptra_verdicts(path)
    registry = Registry([PLUGIN_FOLDER])
    agree, differ = 0, []
    for case in drawn:
        ep = load_entrypoint_text(yaml.safe_dump(case["description"], sort_keys=False), registry, name="case")
        ours = not ep.problems
        if ours == theirs[case["id"]]["valid"]:
            agree += 1
        else:
            differ.append(
                {**case, "ours": [str(p) for p in ep.problems], "dioptra": theirs[case["id"]]["errors"]}
            )
    return agree, differ


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--show", type=int, default=5, help="disagreements to print")
    args = parser.parse_args(argv)
    agree, differ = compare(args.cases, args.seed)
    print(f"{agree}/{args.cases} descriptions: the same verdict as Dioptra's validator")  # noqa: T201
    for case in differ[: args.show]:
        print(yaml.safe_dump(case, sort_keys=False, width=120))  # noqa: T201
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
