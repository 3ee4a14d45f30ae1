"""Following ExternalTaskMarkers in a clear (Airflow's DAG.clear with include_dependent_dags).

Clearing an ExternalTaskMarker's instance also clears its external task, and that task's downstream,
in the external DAG's run at the marker's (rendered) execution_date, and so on through markers found
there, up to the first marker's recursion_depth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import jinja2
import jinja2.sandbox
from sqlalchemy import select
from sqlalchemy.orm import Session

from slipstream.dates import to_utc
from slipstream.storage.models import DagRun, SerializedDagModel, TaskInstance

MARKER = "ExternalTaskMarker"


class MarkerError(ValueError):
    """A marker cannot be followed: the recursion is too deep, or its templates do not render."""


_jinja = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


def _context(run: DagRun) -> dict[str, Any]:
    """The run's date keys a marker's templates use (the default is `{{ logical_date.isoformat() }}`)."""
    import pendulum

    logical = pendulum.instance(run.execution_date, tz="UTC")
    start = pendulum.instance(run.data_interval_start, tz="UTC") if run.data_interval_start else logical
    end = pendulum.instance(run.data_interval_end, tz="UTC") if run.data_interval_end else logical
    return {
        "logical_date": logical,
        "execution_date": logical,
        "ds": logical.strftime("%Y-%m-%d"),
        "ds_nodash": logical.strftime("%Y%m%d"),
        "ts": logical.isoformat(),
        "ts_nodash": logical.strftime("%Y%m%dT%H%M%S"),
        "data_interval_start": start,
        "data_interval_end": end,
        "run_id": run.run_id,
    }


def _render(text: str, context: dict[str, Any], what: str) -> str:
    try:
        return _jinja.from_string(text).render(**context)
    except jinja2.TemplateError as error:
        raise MarkerError(f"Could not render {what} of {MARKER}: {error}") from None


def follow_markers(
    session: Session,
    tis: Iterable[TaskInstance],
    *,
    states: list[str] | None,
    tasks_of: Callable[[str], dict[str, Any] | None],
) -> list[tuple[TaskInstance, datetime]]:
    """The external task instances (with their run's logical date) that clearing `tis` reaches through
    ExternalTaskMarkers, recursively; `states` filters every instance as the clear's own filter does."""
    found: list[tuple[TaskInstance, datetime]] = []
    seen: set[tuple[str, str, str, int]] = set()
    _follow(session, list(tis), states, tasks_of, found, seen, depth=0, max_depth=None)
    return found


def _follow(session, tis, states, tasks_of, found, seen, *, depth: int, max_depth: int | None) -> None:
    for ti in tis:
        marker = ((tasks_of(ti.dag_id) or {}).get(ti.task_id) or {}).get("external_task_marker")
        key = (ti.dag_id, ti.task_id, ti.run_id, ti.map_index)
        if marker is None or key in seen:
            continue
        seen.add(key)
        if max_depth is None:
            # The first marker visited sets the limit for the whole clear, as in Airflow.
            max_depth = int(marker.get("recursion_depth") or 10)
        if depth + 1 > max_depth:
            raise MarkerError(
                f"Maximum recursion depth {max_depth} reached for {MARKER} {ti.task_id}. "
                "Attempted to clear too many tasks or there may be a cyclic dependency."
            )
        run = session.scalar(select(DagRun).where(DagRun.dag_id == ti.dag_id, DagRun.run_id == ti.run_id))
        if run is None:
            continue
        context = _context(run)
        external_dag_id = _render(marker["external_dag_id"], context, "external_dag_id")
        external_task_id = _render(marker["external_task_id"], context, "external_task_id")
        when_text = _render(marker["execution_date"], context, "execution_date")
        try:
            import pendulum

            parsed = to_utc(pendulum.parse(when_text))
            when = datetime(*parsed.timetuple()[:6], parsed.microsecond, tzinfo=UTC)
        except (ValueError, TypeError, pendulum.parsing.exceptions.ParserError):
            raise MarkerError(f"{MARKER} {ti.task_id}: execution_date {when_text!r} is not a date") from None
        targets = session.execute(
            select(TaskInstance.run_id, DagRun.execution_date)
            .join(DagRun, (DagRun.dag_id == TaskInstance.dag_id) & (DagRun.run_id == TaskInstance.run_id))
            .where(
                TaskInstance.dag_id == external_dag_id,
                TaskInstance.task_id == external_task_id,
                DagRun.execution_date == when,
            )
            .distinct()
        ).all()
        if not targets:
            continue
        external_tasks = tasks_of(external_dag_id)
        if external_tasks is None:
            raise MarkerError(f"Could not find dag {external_dag_id}")
        from slipstream.services.clearing import clear_subset

        wanted = clear_subset(external_tasks, [external_task_id], upstream=False, downstream=True)
        for run_id, execution_date in targets:
            query = select(TaskInstance).where(
                TaskInstance.dag_id == external_dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id.in_(wanted),
            )
            if states is not None:
                query = query.where(TaskInstance.state.in_(states))
            reached = list(session.scalars(query.order_by(TaskInstance.task_id, TaskInstance.map_index)))
            known = {(f.dag_id, f.run_id, f.task_id, f.map_index) for f, _ in found}
            found.extend(
                (t, execution_date) for t in reached if (t.dag_id, t.run_id, t.task_id, t.map_index) not in known
            )
            _follow(session, reached, states, tasks_of, found, seen, depth=depth + 1, max_depth=max_depth)


def serialized_tasks(session: Session) -> Callable[[str], dict[str, Any] | None]:
    """A lookup of DAGs' serialized tasks, each read once per clear."""
    cache: dict[str, dict[str, Any] | None] = {}

    def tasks_of(dag_id: str) -> dict[str, Any] | None:
        if dag_id not in cache:
            data = session.scalar(select(SerializedDagModel.data).where(SerializedDagModel.dag_id == dag_id))
            cache[dag_id] = (data or {}).get("tasks") if data is not None else None
        return cache[dag_id]

    return tasks_of
