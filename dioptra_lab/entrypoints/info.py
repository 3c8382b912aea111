"""The typed view of an entry point: its parameter schema, its graph and its problems."""

from __future__ import annotations

from dioptra_lab.entrypoints.model import EntryPoint
from dioptra_lab.entrypoints.references import iter_refs
from dioptra_lab.entrypoints.validate import step_dependencies
from dioptra_lab.models import EntryPointInfo, ParameterInfo, ProblemInfo, StepInfo


def entrypoint_info(ep: EntryPoint) -> EntryPointInfo:
    """What forms, the graph picture and the REST API show of ``ep``."""
    steps = []
    for name, step in ep.steps.items():
        refs = {ref.name for ref, _ in iter_refs([step.args, step.kwargs])}
        steps.append(
            StepInfo(
                name=name,
                task=step.spec.qualname if step.spec else step.task,
                dependencies=sorted(step_dependencies(step, ep)),
                parameters=sorted(refs & set(ep.parameters)),
            )
        )
    return EntryPointInfo(
        name=ep.name,
        source=ep.source,
        kind=ep.kind,
        description=ep.description,
        parameters=[
            ParameterInfo.from_description(p.describe(), str(p.type)) for p in ep.parameters.values()
        ],
        steps=steps,
        problems=[ProblemInfo.of(p) for p in ep.problems],
        warnings=[ProblemInfo.of(p) for p in ep.warnings],
        dioptra=ep.dioptra,
    )
