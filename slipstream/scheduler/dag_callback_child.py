"""The child side of a DAG callback (see dag_callbacks.py): run as a script, never imported by a server.

python -P dag_callback_child.py '{"callback": {...}, "settings": {...}}' [--sys-path DIR]... [--fallback-path DIR]...
"""

from __future__ import annotations

import argparse
import sys
import traceback


def _say(message: str) -> None:
    print(message, flush=True)


def run(payload: dict) -> int:
    from sqlalchemy import select

    from slipstream.scheduler.callbacks import run_task_callbacks
    from slipstream.scheduler.context import (
        DagRunView,
        PreviousSuccess,
        TaskInstanceView,
        as_pendulum,
        build_context,
    )
    from slipstream.scheduler.dag_files import add_to_sys_path, find_dag, import_dag_file
    from slipstream.scheduler.executors.zygote import settings_from_dict
    from slipstream.scheduler.templating import make_environment, render_value
    from slipstream.sdk import runtime
    from slipstream.sdk.metastore import bind_task_process
    from slipstream.storage.db import session_scope
    from slipstream.storage.models import DagRun, TaskInstance

    settings = settings_from_dict(payload["settings"])
    bind_task_process(settings)
    request = payload["callback"]
    name = "on_success_callback" if request["success"] else "on_failure_callback"
    add_to_sys_path(settings.dags_folder)
    _module, dags = import_dag_file(request["fileloc"])
    dag = find_dag(dags, request["dag_id"], request["fileloc"])
    if not getattr(dag, name, None):
        return 0
    with session_scope(settings.database_url, write=False) as db:
        run_row = db.scalar(select(DagRun).where(DagRun.dag_id == dag.dag_id, DagRun.run_id == request["run_id"]))
        tis = list(
            db.scalars(
                select(TaskInstance)
                .where(
                    TaskInstance.dag_id == dag.dag_id,
                    TaskInstance.run_id == request["run_id"],
                    TaskInstance.state != "removed",
                )
                .order_by(TaskInstance.id)
            )
        )
    if run_row is None or not tis:
        _say(f"DAG run {request['run_id']} of {dag.dag_id} has no task instances; no callback context.")
        return 0
    dag_run = DagRunView(
        dag_id=dag.dag_id,
        run_id=run_row.run_id,
        conf=dict(run_row.conf or {}),
        logical_date=as_pendulum(run_row.execution_date),
        data_interval_start=as_pendulum(run_row.data_interval_start),
        data_interval_end=as_pendulum(run_row.data_interval_end),
        run_type=run_row.run_type,
        external_trigger=bool(run_row.external_trigger),
        start_date=as_pendulum(run_row.start_date),
        queued_at=as_pendulum(run_row.queued_at),
        state=run_row.state,
    )
    last = tis[-1]  # Airflow hands the callback the context of the run's last task instance
    task = dag.task_dict.get(last.task_id)
    ti = TaskInstanceView(
        dag_id=dag.dag_id,
        task_id=last.task_id,
        run_id=run_row.run_id,
        map_index=last.map_index,
        try_number=last.try_number,
        max_tries=last.max_tries,
        logical_date=dag_run.logical_date,
        start_date=as_pendulum(last.start_date),
        hostname=last.hostname,
        unixname=last.unixname,
        pid=last.pid or 0,
        pool=last.pool,
        queue=last.queue,
        priority_weight=last.priority_weight,
        task=task,
        dag_run=dag_run,
        state=last.state,
    )
    context = build_context(
        dag=dag, task=task, ti=ti, dag_run=dag_run, previous_success=PreviousSuccess(), settings=settings
    )
    context["reason"] = request["reason"]
    env = make_environment((".",))
    runtime.enter_task(
        context=context,
        max_xcom_bytes=settings.max_xcom_bytes,
        renderer=lambda value, ext: render_value(value, context, env, ext),
    )
    _say(f"Running {name} of DAG {dag.dag_id} for run {run_row.run_id} (reason: {request['reason']})")

    def log(message: str, level: str = "INFO") -> None:
        _say(f"{level} - failed to invoke dag state update callback\n{message}")

    run_task_callbacks(dag, name, context, log)
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("payload")
    parser.add_argument("--sys-path", action="append", default=[])
    parser.add_argument("--fallback-path", action="append", default=[])
    args = parser.parse_args(argv)
    for entry in reversed(args.sys_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    for entry in args.fallback_path:
        if entry not in sys.path:
            sys.path.append(entry)
    import orjson

    try:
        code = run(orjson.loads(args.payload))
    except BaseException:
        _say(f"ERROR - failed to invoke dag state update callback\n{traceback.format_exc().rstrip()}")
        code = 1
    sys.stdout.flush()
    import os

    os._exit(code)


if __name__ == "__main__":
    main()
