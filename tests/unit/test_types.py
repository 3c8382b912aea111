"""Parameter types: annotations, coercion from text, checks, descriptions, compatibility."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

import pytest

from dioptra_lab.types import (
    ANY,
    ArtifactURI,
    Bounds,
    ChoiceType,
    ConstrainedType,
    FloatType,
    IntType,
    ListType,
    OpaqueType,
    StrType,
    TypeMismatch,
    UnionType,
    compatible,
    from_annotation,
    parse_type_definitions,
)


@pytest.mark.parametrize(
    ("annotation", "text", "expected"),
    [
        (int, "3", 3),
        (float, "0.1", 0.1),
        (float, "1e-3", 0.001),
        (str, "abc", "abc"),
        (str, "123", "123"),
        (bool, "true", True),
        (bool, "No", False),
        (type(None), "null", None),
        (list[int], "[1, 2, 3]", [1, 2, 3]),
        (list[float], "0.1,0.3", [0.1, 0.3]),
        (dict[str, int], "{a: 1, b: 2}", {"a": 1, "b": 2}),
        (tuple[int, str], "[1, x]", (1, "x")),
        (tuple[int, ...], "[1, 2, 3]", (1, 2, 3)),
        (Literal["fgsm", "pgd"], "pgd", "pgd"),
        (Literal[1, 2], "2", 2),
        (Optional[int], "none", None),  # noqa: UP045 - the Optional spelling is what users write
        (int | None, "4", 4),
        (int | str, "4", 4),
        (int | str, "four", "four"),
        (Any, "0.5", 0.5),
        (Annotated[float, Bounds(ge=0, le=1)], "0.5", 0.5),
    ],
)
def test_from_text(annotation: Any, text: str, expected: Any) -> None:
    value = from_annotation(annotation).from_text(text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("annotation", "text", "message"),
    [
        (float, "abc", "expected a float, got 'abc'"),
        (int, "1.5", "expected an integer, got '1.5'"),
        (bool, "maybe", "expected true or false, got 'maybe'"),
        (list[int], "[1, x]", "expected a list of int"),
        (Literal["fgsm", "pgd"], "cw", "expected one of 'fgsm', 'pgd', got 'cw'"),
        (Annotated[float, Bounds(ge=0, le=1)], "2", "expected a float >= 0 and <= 1, got 2.0"),
        (tuple[int, int], "[1]", "expected a tuple tuple[int, int]"),
        (int | None, "x", "expected an integer or null, got 'x'"),
    ],
)
def test_from_text_errors(annotation: Any, text: str, message: str) -> None:
    with pytest.raises(TypeMismatch, match="^" + message.replace("[", r"\[").replace("]", r"\]")):
        from_annotation(annotation).from_text(text)


def test_strict_check_accepts_int_for_float_but_not_text() -> None:
    assert FloatType().check(3) == 3.0
    with pytest.raises(TypeMismatch):
        FloatType().check("3")
    with pytest.raises(TypeMismatch):
        IntType().check(True)
    assert StrType().check(5, lenient=True) == "5"
    with pytest.raises(TypeMismatch):
        StrType().check(5)


def test_describe_for_forms() -> None:
    eps = from_annotation(Annotated[float, Bounds(ge=0.0, le=0.3), "step size"])
    assert eps.describe() == {
        "kind": "float",
        "type": "float",
        "ge": 0.0,
        "le": 0.3,
        "minimum": 0.0,
        "maximum": 0.3,
        "description": "step size",
    }
    assert from_annotation(Literal["a", "b"]).describe()["choices"] == ["a", "b"]
    opt = from_annotation(float | None).describe()
    assert opt["kind"] == "union"
    assert opt["nullable"] is True
    assert from_annotation(list[int]).describe()["items"]["kind"] == "int"


def test_annotated_with_annotated_types_markers() -> None:
    import annotated_types

    bounded = from_annotation(Annotated[int, annotated_types.Gt(0)])
    assert isinstance(bounded, ConstrainedType)
    assert bounded.from_text("3") == 3
    with pytest.raises(TypeMismatch):
        bounded.from_text("0")


def test_classes_become_opaque_types() -> None:
    class Model:
        pass

    class Sub(Model):
        pass

    t = from_annotation(Model)
    assert isinstance(t, OpaqueType)
    assert t.check(Model()) is not None
    with pytest.raises(TypeMismatch):
        t.check(3)
    with pytest.raises(TypeMismatch, match="made by a step, or a runs:/… or models:/… URI"):
        t.from_text("x")
    uri = t.from_text("models:/digits/1")
    assert isinstance(uri, ArtifactURI)
    assert uri == "models:/digits/1"
    assert compatible(from_annotation(Sub), t)
    assert not compatible(t, from_annotation(Sub))
    assert not compatible(t, FloatType())


@pytest.mark.parametrize(
    ("source", "target", "ok"),
    [
        (int, float, True),
        (float, int, False),
        (str, float, False),
        (Any, float, True),
        (float, float | None, True),
        (list[int], list[float], True),
        (list[str], list[float], False),
        (Literal["a", "b"], str, True),
        (Literal["a", 1], str, False),
        (str, Literal["a"], True),
    ],
)
def test_compatible(source: Any, target: Any, ok: bool) -> None:
    assert compatible(from_annotation(source), from_annotation(target)) is ok


def test_dioptra_named_types() -> None:
    problems: list[tuple[str, str]] = []
    types = parse_type_definitions(
        {
            "model": None,
            "classifier": {"is_a": "model"},
            "rate": {"is_a": "number"},
            "rates": {"list": "rate"},
            "pair": {"tuple": ["integer", "string"]},
            "table": {"mapping": ["string", "number"]},
            "record": {"mapping": {"name": "string", "size": "integer"}},
            "num_or_text": {"union": ["integer", "string"]},
        },
        lambda place, msg: problems.append((place, msg)),
    )
    assert problems == []
    assert isinstance(types["model"], OpaqueType)
    assert compatible(types["classifier"], types["model"])
    assert not compatible(types["model"], types["classifier"])
    assert types["rate"].from_text("0.5") == 0.5
    assert types["rates"].from_text("[0.1, 0.2]") == [0.1, 0.2]
    assert types["pair"].check([1, "a"]) == (1, "a")
    assert types["table"].check({"a": 1}) == {"a": 1.0}
    assert types["record"].check({"name": "x", "size": 2}) == {"name": "x", "size": 2}
    with pytest.raises(TypeMismatch):
        types["record"].check({"other": 1})
    assert types["num_or_text"].from_text("3") == 3
    assert str(types["rates"]) == "rates"


def test_dioptra_type_definition_problems() -> None:
    problems: list[tuple[str, str]] = []
    parse_type_definitions(
        {"a": {"is_a": "b"}, "b": {"is_a": "a"}, "c": {"list": "nope"}, "string": None},
        lambda place, msg: problems.append((place, msg)),
    )
    messages = " | ".join(f"{p}: {m}" for p, m in problems)
    assert "defined in terms of itself" in messages
    assert "unknown type 'nope'" in messages
    assert "'string' is a built-in type" in messages


def test_union_and_choice_reprs() -> None:
    assert str(UnionType((IntType(), StrType()))) == "int | str"
    assert str(ChoiceType(("a",))) == "Literal['a']"
    assert str(ListType(ANY)) == "list[any]"
