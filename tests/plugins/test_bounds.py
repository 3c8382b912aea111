"""Every range and choice a built-in task declares is enforced before a job is queued.

Tasks declare their ranges in their annotations (``Annotated[float, Bounds(ge=0, le=1)]``,
``Literal[...]``); an entry point's parameter is checked against every input it is bound
to, so an out-of-range value fails at ``EntryPoint.coerce`` (submit, run, forms) instead
of after a kernel started and a model was trained.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pytest

from dioptra_lab import Bounds
from dioptra_lab.entrypoints import EntryPoint, load_entrypoint, load_entrypoint_text
from dioptra_lab.errors import ParameterError
from dioptra_lab.plugins.task import InputSpec, TaskSpec, build_spec
from dioptra_lab.types import (
    ChoiceType,
    ConstrainedType,
    DictType,
    FloatType,
    IntType,
    ListType,
    NamedType,
    OpaqueType,
    ParamType,
    StrType,
    TupleType,
    UnionType,
)
from tests.plugins.conftest import BUILTIN_PLUGINS

EXAMPLES = BUILTIN_PLUGINS.parent / "examples"
# fgsm's eps range as messages show it (``0`` or ``0.0``: typing caches Annotated[float,
# Bounds(...)] by equality, and Bounds(ge=0, le=1) == Bounds(ge=0.0, le=1.0))
EPS_RANGE = r"expected a float >= 0(\.0)? and <= 1(\.0)?"
EPS_5 = r"parameter 'eps': " + EPS_RANGE + r", got 5\.0"

# Numeric task inputs that may take any value, as "qualname.input": why. Keep it short:
# a new numeric input needs bounds (seeds >= 0, counts >= 1, rates in [0, 1], ...) or a
# line here saying why no range fits.
UNBOUNDED: dict[str, str] = {}


# -- reading types ---------------------------------------------------------------------
def leaves(ptype: ParamType) -> Iterator[ParamType]:
    """The scalar, constrained and choice types inside a type (through unions and containers)."""
    if isinstance(ptype, NamedType):
        yield from leaves(ptype.base)
    elif isinstance(ptype, UnionType):
        for option in ptype.options:
            yield from leaves(option)
    elif isinstance(ptype, ListType):
        yield from leaves(ptype.item)
    elif isinstance(ptype, TupleType):
        for item in ptype.items:
            yield from leaves(item)
    elif isinstance(ptype, DictType):
        yield from leaves(ptype.value)
    else:
        yield ptype


def core(ptype: ParamType) -> ParamType:
    while isinstance(ptype, ConstrainedType | NamedType):
        ptype = ptype.base
    return ptype


def is_numeric(ptype: ParamType) -> bool:
    return isinstance(core(ptype), IntType | FloatType)


def has_bounds(ptype: ParamType) -> bool:
    if not isinstance(ptype, ConstrainedType):
        return False
    return any(v is not None for v in (ptype.bounds.ge, ptype.bounds.gt, ptype.bounds.le, ptype.bounds.lt))


def wrap(ptype: ParamType, value: Any) -> Any:
    """``value`` shaped for a leaf inside ``ptype``: in a one-item list when it is a list."""
    if isinstance(ptype, ListType):
        return [wrap(ptype.item, value)]
    if isinstance(ptype, NamedType):
        return wrap(ptype.base, value)
    if isinstance(ptype, UnionType):
        return wrap(next(o for o in ptype.options if list(leaves(o)) and not _none(o)), value)
    return value


def _none(ptype: ParamType) -> bool:
    return ptype.kind == "none"


@dataclass
class Case:
    value: Any
    accepted: bool
    why: str


def cases(leaf: ParamType) -> list[Case]:
    """Values at and just beyond each bound of a numeric leaf; every choice and a non-choice."""
    if isinstance(leaf, ChoiceType):
        return [Case(c, True, f"choice {c!r}") for c in leaf.choices] + [
            Case("not-a-choice", False, "not among the choices")
        ]
    assert isinstance(leaf, ConstrainedType)
    integer = isinstance(core(leaf), IntType)
    step = 1 if integer else 1e-6
    b = leaf.bounds
    found = []
    if b.ge is not None:
        found += [Case(b.ge, True, "the minimum"), Case(b.ge - step, False, "just below the minimum")]
    if b.gt is not None:
        found += [Case(b.gt + step, True, "just above the bound"), Case(b.gt, False, "the exclusive bound")]
    if b.le is not None:
        found += [Case(b.le, True, "the maximum"), Case(b.le + step, False, "just above the maximum")]
    if b.lt is not None:
        found += [Case(b.lt - step, True, "just below the bound"), Case(b.lt, False, "the exclusive bound")]
    if not integer:
        found = [Case(float(c.value), c.accepted, c.why) for c in found]
    return found


def sample(ptype: ParamType) -> Any:
    """A valid literal for a required input the test does not look at."""
    if isinstance(ptype, UnionType):
        return sample(next(o for o in ptype.options if not _none(o)))
    if isinstance(ptype, NamedType):
        return sample(ptype.base)
    if isinstance(ptype, OpaqueType):
        return "runs:/0123456789abcdef/object"
    if isinstance(ptype, ChoiceType):
        return ptype.choices[0]
    if isinstance(ptype, ListType):
        return []
    if isinstance(ptype, DictType):
        return {}
    if isinstance(ptype, StrType):
        return "x"
    if isinstance(ptype, ConstrainedType):
        b = ptype.bounds
        low = b.ge if b.ge is not None else (b.gt + 1 if b.gt is not None else 0)
        return int(low) if isinstance(core(ptype), IntType) else float(low)
    if is_numeric(ptype):
        return 0
    raise AssertionError(f"no sample value for {ptype}")


def one_step(spec: TaskSpec, inp: InputSpec, registry: Any) -> EntryPoint:
    """An entry point running ``spec`` once, with ``inp`` bound to a parameter of the same name."""
    kwargs = {inp.name: f"${inp.name}"}
    for other in spec.inputs:
        if other.required and other.name != inp.name:
            kwargs[other.name] = sample(other.type)
    text = f"parameters: [{inp.name}]\ngraph:\n  step:\n    {spec.qualname}: {json.dumps(kwargs)}\n"
    return load_entrypoint_text(text, registry).validate()


def bounded_inputs(registry: Any) -> list[tuple[TaskSpec, InputSpec, ParamType]]:
    found = []
    for spec in registry.list_tasks():
        for inp in spec.inputs:
            for leaf in leaves(inp.type):
                if has_bounds(leaf) or isinstance(leaf, ChoiceType):
                    found.append((spec, inp, leaf))
    return found


def rejected(ep: EntryPoint, values: dict[str, Any], **options: Any) -> str:
    with pytest.raises(ParameterError) as info:
        ep.coerce(values, **options)
    return str(info.value)


# -- every task input ------------------------------------------------------------------
def test_every_numeric_input_has_a_range(builtin_registry: Any) -> None:
    """A task cannot forget its ranges: numeric inputs are bounded or listed in UNBOUNDED."""
    missing, seen = [], set()
    for spec in builtin_registry.list_tasks():
        for inp in spec.inputs:
            key = f"{spec.qualname}.{inp.name}"
            loose = [leaf for leaf in leaves(inp.type) if is_numeric(leaf) and not has_bounds(leaf)]
            if loose and key not in UNBOUNDED:
                missing.append(f"{key}: {inp.type}")
            if loose:
                seen.add(key)
    assert not missing, "numeric inputs without bounds (declare Annotated[..., Bounds(...)]):\n" + "\n".join(
        missing
    )
    assert not set(UNBOUNDED) - seen, f"stale UNBOUNDED entries: {sorted(set(UNBOUNDED) - seen)}"


def test_an_unbounded_numeric_input_would_be_caught() -> None:
    """The scan above sees through unions and lists."""

    def new_task(
        count: int, rate: Annotated[float, Bounds(ge=0.0, le=1.0)], sizes: list[float] | None = None
    ) -> int:
        """A task that forgot two ranges."""
        return count

    spec = build_spec(new_task)
    loose = {
        i.name for i in spec.inputs for leaf in leaves(i.type) if is_numeric(leaf) and not has_bounds(leaf)
    }
    assert loose == {"count", "sizes"}


def test_no_task_checks_ranges_by_hand() -> None:
    """Static ranges live in annotations; the old helper is gone."""
    for path in BUILTIN_PLUGINS.rglob("*.py"):
        assert "check_range" not in path.read_text(), f"{path} still calls check_range"


def test_declared_ranges_of_the_attacks(builtin_registry: Any) -> None:
    """The ranges the issue named, read from the registry."""

    def bounds(task: str, name: str) -> Bounds:
        inp = builtin_registry.get(task).input(name)
        assert inp is not None
        return next(leaf for leaf in leaves(inp.type) if isinstance(leaf, ConstrainedType)).bounds

    assert bounds("fgsm", "eps") == Bounds(ge=0.0, le=1.0)
    assert bounds("pgd", "eps") == Bounds(ge=0.0)  # L2 radii may exceed 1; L∞ is checked in pgd
    assert bounds("pgd", "steps") == Bounds(ge=1)
    assert bounds("carlini_wagner", "learning_rate") == Bounds(gt=0.0)
    assert bounds("carlini_wagner", "target_class") == Bounds(ge=0)
    assert bounds("deepfool", "overshoot") == Bounds(ge=0.0)
    assert bounds("train_patch", "patch_fraction") == Bounds(ge=0.01, le=1.0)
    assert bounds("train_model", "batch_size") == Bounds(ge=1)
    assert bounds("backdoor_poison", "rate") == Bounds(ge=0.0, le=1.0)
    assert bounds("subset", "n_samples") == Bounds(ge=1)


def test_every_bound_and_choice_is_enforced_at_coerce(builtin_registry: Any) -> None:
    """For each task input with bounds or choices: out of range is refused, in range accepted."""
    found = bounded_inputs(builtin_registry)
    assert len(found) >= 60, len(found)
    for spec, inp, leaf in found:
        ep = one_step(spec, inp, builtin_registry)
        where = f"{spec.qualname}.{inp.name}"
        for case in cases(leaf):
            value = wrap(inp.type, case.value)
            if case.accepted:
                assert ep.coerce({inp.name: value})[inp.name] == value, f"{where}: {case.why} refused"
                text = json.dumps(value) if not isinstance(value, str) else value
                assert ep.coerce({inp.name: text}, from_text=True)[inp.name] == value, where
                continue
            for values, options in (
                ({inp.name: value}, {}),
                ({inp.name: value if isinstance(value, str) else json.dumps(value)}, {"from_text": True}),
            ):
                message = rejected(ep, values, **options)
                assert f"parameter {inp.name!r}" in message, f"{where}: {message}"
                assert leaf.expected in message or str(leaf) in message, f"{where}: {case.why}: {message}"
                assert "graph.step" in message, f"{where}: {message}"


def test_form_description_shows_the_range(builtin_registry: Any) -> None:
    spec = builtin_registry.get("fgsm")
    eps = spec.input("eps")
    assert eps is not None
    info = one_step(spec, eps, builtin_registry).parameters["eps"].describe()
    assert (info["minimum"], info["maximum"], info["ge"], info["le"]) == (0.0, 1.0, 0.0, 1.0)
    assert info["inputs"] == ["graph.step.eps"]
    target = spec.input("target_class")
    assert target is not None
    assert one_step(spec, target, builtin_registry).parameters["target_class"].describe()["minimum"] == 0


# -- entry-point parameters against every input they feed -------------------------------
def load(text: str, registry: Any) -> EntryPoint:
    return load_entrypoint_text(textwrap.dedent(text), registry)


TWO_ATTACKS = """
    parameters:
      eps: {eps}
    graph:
      digits:
        load_digits: {{n_samples: 20}}
      model:
        build_model: [$digits]
      pgd_images:
        pgd: {{model: $model, data: $digits, eps: $eps, norm: "2"}}
      fgsm_images:
        fgsm: {{model: $model, data: $digits, eps: $eps}}
    """


def test_parameter_is_checked_against_every_input_not_only_the_first(builtin_registry: Any) -> None:
    ep = load(TWO_ATTACKS.format(eps=0.1), builtin_registry).validate()
    eps = ep.parameters["eps"]
    assert [place for place, _ in eps.constraints] == ["graph.pgd_images.eps", "graph.fgsm_images.eps"]
    # the type comes from pgd (eps >= 0), but fgsm also takes it (eps <= 1)
    message = rejected(ep, {"eps": "5"}, from_text=True)
    assert re.search(EPS_5 + r" \(input 'eps' at graph\.fgsm_images\)", message), message
    message = rejected(ep, {"eps": -1.0})
    assert "input 'eps' at graph.pgd_images" in message
    assert "graph.fgsm_images" in message
    assert ep.coerce({"eps": 1}) == {"eps": 1.0}
    info = eps.describe()
    assert (info["minimum"], info["maximum"]) == (0.0, 1.0)


def test_declared_parameter_is_checked_against_its_inputs(builtin_registry: Any) -> None:
    ep = load(
        """
        parameters:
          eps:
            type: number
            default: 0.1
          kind:
            type: string
            default: cnn
        graph:
          digits:
            load_digits: {n_samples: 20}
          model:
            build_model: {data: $digits, kind: $kind}
          adversarial:
            fgsm: {model: $model, data: $digits, eps: $eps}
        """,
        builtin_registry,
    ).validate()
    message = rejected(ep, {"eps": "5", "kind": "rnn"}, from_text=True)
    assert re.search(EPS_5 + r" \(input 'eps' at graph\.adversarial\)", message), message
    assert (
        "parameter 'kind': expected one of 'cnn', 'mlp', got 'rnn' (input 'kind' at graph.model)" in message
    )
    assert ep.coerce({"eps": "0.3", "kind": "mlp"}, from_text=True) == {"eps": 0.3, "kind": "mlp"}
    assert ep.parameters["kind"].describe()["choices"] == ["cnn", "mlp"]


def test_default_out_of_an_inputs_range_is_a_problem(builtin_registry: Any) -> None:
    problems = [str(p) for p in load(TWO_ATTACKS.format(eps=5), builtin_registry).problems]
    assert len(problems) == 1, problems
    assert problems[0].startswith("parameters.eps: bad default: ")
    assert re.search(EPS_RANGE + r", got 5\.0 \(input 'eps' at graph\.fgsm_images\)$", problems[0])


# -- the examples ----------------------------------------------------------------------
def examples() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml"))


def outside(info: dict[str, Any]) -> list[tuple[Any, str]]:
    """Values just outside a parameter's effective range (from its description)."""
    integer = info["kind"] == "int"
    step = 1 if integer else 1e-6
    found = []
    if "ge" in info:
        found.append((info["ge"] - step, "below the minimum"))
    if "gt" in info:
        found.append((info["gt"], "at the exclusive minimum"))
    if "le" in info:
        found.append((info["le"] + step, "above the maximum"))
    if "lt" in info:
        found.append((info["lt"], "at the exclusive maximum"))
    return [(int(v) if integer else float(v), why) for v, why in found]


@pytest.mark.parametrize("path", examples(), ids=lambda p: p.stem)
def test_example_parameters_are_checked_against_their_ranges(path: Path, builtin_registry: Any) -> None:
    ep = load_entrypoint(path, builtin_registry).validate()
    ep.coerce({})  # the defaults fit
    bounded = []
    for name, param in ep.parameters.items():
        if any(has_bounds(leaf) for _, ptype in param.constraints for leaf in leaves(ptype)):
            bounded.append(name)
        info = param.describe()
        for value, why in outside(info):
            message = rejected(ep, {name: value})
            assert f"parameter {name!r}" in message, f"{path.name}: {name} {why}: {message}"
            assert f"input {name!r} at graph." in message or "at graph." in message, message
        for edge in (info.get("ge"), info.get("le")):
            if edge is not None:
                ep.coerce({name: edge})  # inclusive bounds are in range
        if "choices" in info:
            assert f"parameter {name!r}" in rejected(ep, {name: "not-a-choice"})
        if name in bounded:
            assert outside(info), f"{path.name}: {name} has bounds but its description shows none"
    assert bounded, f"{path.name}: no bounded parameter"


@pytest.mark.parametrize("name", ["fgsm", "quickstart", "fgsm_registered", "defended"])
def test_eps_5_is_refused_before_a_job_is_queued(name: str, builtin_registry: Any) -> None:
    """The issue: `dioptra-lab submit examples/fgsm.yaml -p eps=5` was accepted."""
    ep = load_entrypoint(EXAMPLES / f"{name}.yaml", builtin_registry).validate()
    message = rejected(ep, {"eps": "5"}, from_text=True)
    assert re.search(EPS_5 + r" \(input 'eps' at graph\.", message), message
    assert ep.parameters["eps"].describe()["maximum"] == 1.0


def test_epochs_and_sizes_of_the_examples_are_bounded(builtin_registry: Any) -> None:
    ep = load_entrypoint(EXAMPLES / "pgd.yaml", builtin_registry).validate()
    message = rejected(
        ep, {"epochs": "0", "n_test": "0", "steps": "0", "eps_step": "-0.1", "seed": "-1"}, from_text=True
    )
    for name in ("epochs", "n_test", "steps", "eps_step", "seed"):
        assert f"parameter {name!r}" in message, message
    backdoor = load_entrypoint(EXAMPLES / "backdoor.yaml", builtin_registry).validate()
    message = rejected(backdoor, {"rate": 1.5, "trigger_size": 0, "target_class": -1})
    for name in ("rate", "trigger_size", "target_class"):
        assert f"parameter {name!r}" in message, message
