"""The engine: the scheduler loop, its rules, and the executors that run task tries.

loop.py           SchedulerJob: the loop (runs created, started, examined; tries queued; events)
runs.py           scheduled runs from timetables; queued runs started within max_active_runs
dagrun.py         examining a running run: trigger rules, scheduling, the run's end (pure + DB)
dependencies.py   trigger rules (pure)
queueing.py       the critical section: scheduled -> queued within pools and concurrency limits
health.py         executor events, zombies, orphans of dead schedulers
retries.py        handle_failure: up_for_retry or failed, retry delays with backoff
transitions.py    the only writer of states, checked against slipstream.states
dag_specs.py      serialized DAGs as the scheduler reads them, cached by hash
write_lock.py     engine write transactions queued on a file lock (SQLite)
executors/        base interface, LocalExecutor, and its fork server (zygote.py)
supervision.py    the fork server's DB work for its tries: claim, heartbeat, record
task_runner.py    one try in its own process: DAG import, context, templates, execute
context.py, templating.py, dag_files.py, logs.py   what task_runner uses
"""
