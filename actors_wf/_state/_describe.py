"""Readable views of job states: ``describe`` and ``diff``, for people debugging a job."""

from __future__ import annotations

import time
from typing import Any

from .._core._records import Attempt, JobState, StepState
from .._core._spec import StepSpec


def _when(at: float | None) -> str:
    if at is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) + f"{at % 1:.3f}"[1:]


def _took(start: float | None, end: float | None) -> str:
    if start is None or end is None:
        return ""
    seconds = end - start
    return f" ({seconds * 1000:.1f} ms)" if seconds < 1 else f" ({seconds:.2f} s)"


def _short(value: Any, width: int = 100) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def describe_job(state: JobState) -> str:
    """The job, its steps, their attempts, timings and errors, as text."""
    spec = state.workflow
    lines = [
        f"job {state.job_id}",
        f"  workflow  {spec.id} (version {spec.version})",
        f"  status    {state.status.value}",
        f"  priority  {state.priority}",
        f"  version   {state.version}",
        f"  created   {_when(state.created_at)}",
        f"  started   {_when(state.started_at)}",
        f"  finished  {_when(state.finished_at)}{_took(state.started_at, state.finished_at)}",
        f"  inputs    {_short(state.inputs)}",
    ]
    if state.outputs is not None:
        lines.append(f"  outputs   {_short(state.outputs)}")
    if state.error is not None:
        where = f" at step {state.error.step_id!r}" if state.error.step_id else ""
        lines.append(f"  error     {state.error.type}{where}: {state.error.message}")
    if state.parent_job_id is not None:
        lines.append(f"  parent    job {state.parent_job_id}, step {state.parent_step_id!r}")
    for step_id, child in state.children.items():
        lines.append(f"  child     job {child} (step {step_id!r})")
    for name, payloads in state.signals.items():
        lines.append(f"  signal    {name!r} kept for a step to take: {_short(payloads)}")
    lines.append(f"  steps ({len(state.steps)}):")
    for step_spec in spec.steps:
        step = state.steps.get(step_spec.id)
        if step is not None:
            lines += _describe_step(step, _kind(step_spec))
        if step_spec.for_each is not None:  # its items, in order
            index = 0
            while (item := state.steps.get(f"{step_spec.id}[{index}]")) is not None:
                lines += _describe_step(item, _kind(step_spec))
                index += 1
    return "\n".join(lines)


def _kind(step: StepSpec) -> str:
    if step.wait_for is not None:
        return f"signal {step.wait_for.signal}"
    if step.workflow is not None:
        return f"workflow {step.workflow}"
    return step.component


def _describe_step(step: StepState, component: str) -> list[str]:
    lines = [f"    {step.step_id} [{component}] {step.status.value}"]
    for attempt in step.attempts:
        lines.append(_describe_attempt(attempt))
    if step.output is not None:
        lines.append(f"      output {_short(step.output, 80)}")
    return lines


def _describe_attempt(attempt: Attempt) -> str:
    took = _took(attempt.started_at, attempt.finished_at)
    end = "running" if attempt.finished_at is None else "ended"
    text = f"      attempt {attempt.number}: started {_when(attempt.started_at)}, {end}{took}"
    if attempt.error is not None:
        text += f": {attempt.error.type}: {attempt.error.message}"
    return text


def diff_states(a: JobState, b: JobState) -> list[str]:
    """One line per field that differs between two states of a job."""
    lines = []
    for name in ("status", "priority", "inputs", "outputs", "error", "started_at", "finished_at"):
        before, after = getattr(a, name), getattr(b, name)
        if before != after:
            lines.append(f"{name}: {_plain(before)} -> {_plain(after)}")
    if a.version != b.version:
        lines.insert(0, f"version: {a.version} -> {b.version}")
    for step_id in sorted(set(a.steps) | set(b.steps)):
        lines += _diff_step(step_id, a.steps.get(step_id), b.steps.get(step_id))
    return lines


def _diff_step(step_id: str, a: StepState | None, b: StepState | None) -> list[str]:
    if a is None or b is None:
        return [f"steps.{step_id}: {'added' if a is None else 'removed'}"]
    lines = []
    if a.status is not b.status:
        lines.append(f"steps.{step_id}.status: {a.status.value} -> {b.status.value}")
    if len(a.attempts) != len(b.attempts):
        lines.append(f"steps.{step_id}.attempts: {len(a.attempts)} -> {len(b.attempts)}")
    if a.output != b.output:
        lines.append(f"steps.{step_id}.output: {_short(a.output, 40)} -> {_short(b.output, 40)}")
    if a.error != b.error:
        lines.append(f"steps.{step_id}.error: {_plain(a.error)} -> {_plain(b.error)}")
    return lines


def _plain(value: Any) -> str:
    if hasattr(value, "value") and not isinstance(value, dict):
        return str(value.value)
    if hasattr(value, "type") and hasattr(value, "message"):
        return f"{value.type}: {value.message}"
    return _short(value, 60)
