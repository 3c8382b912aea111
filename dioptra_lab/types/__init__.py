"""Parameter types: parse from annotations or Dioptra type names, coerce, check, describe.

A :class:`ParamType` turns values that arrive as text (command line, Papermill,
forms) or as Python objects into checked values, and describes itself for the
forms of the widgets and dashboards. Errors read like
``parameter 'eps': expected a float, got 'abc'``.

The package is layered one way: :mod:`~dioptra_lab.types.scalar` (the base class
and scalars) ← :mod:`~dioptra_lab.types.structured` (containers, unions, opaque
and named types) ← :mod:`~dioptra_lab.types.annotations` (Python annotations and
bounds) ← :mod:`~dioptra_lab.types.compatibility` ← :mod:`~dioptra_lab.types.dioptra`
(Dioptra type names).
"""

from __future__ import annotations

from dioptra_lab.types.annotations import Bounds, ConstrainedType, from_annotation, type_of_value
from dioptra_lab.types.compatibility import accepts, compatible
from dioptra_lab.types.dioptra import DIOPTRA_BUILTINS, builtin_type, parse_type_definitions
from dioptra_lab.types.scalar import (
    ANY,
    AnyType,
    BoolType,
    FloatType,
    IntType,
    NoneType,
    ParamType,
    StrType,
    TypeMismatch,
)
from dioptra_lab.types.structured import (
    ARTIFACT_SCHEMES,
    ArtifactURI,
    ChoiceType,
    DictType,
    ListType,
    NamedType,
    OpaqueType,
    RecordType,
    TupleType,
    UnionType,
)

__all__ = [
    "ANY",
    "ARTIFACT_SCHEMES",
    "DIOPTRA_BUILTINS",
    "AnyType",
    "ArtifactURI",
    "BoolType",
    "Bounds",
    "ChoiceType",
    "ConstrainedType",
    "DictType",
    "FloatType",
    "IntType",
    "ListType",
    "NamedType",
    "NoneType",
    "OpaqueType",
    "ParamType",
    "RecordType",
    "StrType",
    "TupleType",
    "TypeMismatch",
    "UnionType",
    "accepts",
    "builtin_type",
    "compatible",
    "from_annotation",
    "parse_type_definitions",
    "type_of_value",
]
