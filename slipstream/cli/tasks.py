"""`slipstream tasks`: the states of a run's task instances and the log of each try."""

from __future__ import annotations

import sys

import typer
from sqlalchemy import select

from slipstream.cli.common import fail, load_settings, print_json, print_table
from slipstream.scheduler.logs import list_tries, log_path
from slipstream.storage.db import session_scope
from slipstream.storage.models import DagRun, TaskInstance

app = typer.Typer(no_args_is_help=True, help="Task instances: states and logs.")


@app.command("logs")
def logs_command(
    dag_id: str = typer.Argument(..., help="DAG id"),
    run_id: str = typer.Argument(..., help="DAG run id"),
    task_id: str = typer.Argument(..., help="Task id"),
    try_number: int = typer.Option(None, "--try", "-t", help="Which try (default: the latest)"),
    map_index: int = typer.Option(-1, "--map-index", "-m", help="Which instance of a mapped task (default: -1)"),
) -> None:
    """Print the log of one try of a task instance."""
    settings = load_settings()
    tries = list_tries(settings.logs_folder, dag_id, run_id, task_id, map_index)
    if try_number is None:
        with session_scope(settings.database_url, write=False) as session:
            current = session.scalar(
                select(TaskInstance.try_number).where(
                    TaskInstance.dag_id == dag_id,
                    TaskInstance.run_id == run_id,
                    TaskInstance.task_id == task_id,
                    TaskInstance.map_index == map_index,
                )
            )
        try_number = current if current and current in tries else (tries[-1] if tries else current)
    path = log_path(settings.logs_folder, dag_id, run_id, task_id, try_number or 0, map_index)
    if not try_number or not path.is_file():
        known = ", ".join(str(t) for t in tries) or "none"
        which = task_id if map_index < 0 else f"{task_id}[{map_index}]"
        fail(f"No log for {dag_id} / {run_id} / {which} try {try_number or '-'} (tries with a log: {known})")
    sys.stdout.write(path.read_text(encoding="utf-8", errors="replace"))


@app.command("states")
def states_command(
    dag_id: str = typer.Argument(..., help="DAG id"),
    run_id: str = typer.Argument(..., help="DAG run id"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table"),
) -> None:
    """The state of every task instance of a DAG run."""
    settings = load_settings()
    with session_scope(settings.database_url, write=False) as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        if run is None:
            fail(f"DAG run {run_id} of {dag_id} not found")
        rows = session.execute(
            select(
                TaskInstance.task_id,
                TaskInstance.map_index,
                TaskInstance.state,
                TaskInstance.try_number,
                TaskInstance.start_date,
                TaskInstance.end_date,
                TaskInstance.duration,
                TaskInstance.operator,
            )
            .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
            .order_by(
                TaskInstance.start_date.is_(None), TaskInstance.start_date, TaskInstance.task_id, TaskInstance.map_index
            )
        ).all()
        run_state = run.state
    records = [
        {
            "task_id": r.task_id,
            "map_index": r.map_index,
            "state": r.state,
            "try_number": r.try_number,
            "start_date": r.start_date.isoformat() if r.start_date else None,
            "end_date": r.end_date.isoformat() if r.end_date else None,
            "duration": r.duration,
            "operator": r.operator,
        }
        for r in rows
    ]
    if as_json:
        print_json({"dag_id": dag_id, "run_id": run_id, "state": run_state, "task_instances": records})
        return
    print_table(
        f"{dag_id} / {run_id}: {run_state}",
        ["task_id", "map_index", "state", "try", "start_date", "end_date", "duration", "operator"],
        [
            [
                r["task_id"],
                r["map_index"],
                r["state"],
                r["try_number"],
                r["start_date"],
                r["end_date"],
                f"{r['duration']:.2f}" if r["duration"] is not None else None,
                r["operator"],
            ]
            for r in records
        ],
    )
