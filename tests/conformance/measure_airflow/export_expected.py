"""Write airflow_2_10_5_expected.json from a measured Airflow database.

    python export_expected.py DAGS_FOLDER TRIGGERS.json[,MORE.json] CLOCK_CASES.json NOTES.json OUT.json \
        [--watch WATCH.json[,MORE.json]] [--mapped-ti MAPPED_TI.json] [--merge-into EXISTING.json]

Reads the run and task-instance states of the runs the trigger answers name, through Airflow's
own models (any metadata database). Later trigger files override earlier ones (a re-trigger).
A mapped task's instances are keyed `task_id[map_index]`, an unmapped one's `task_id`.

The options were added for the second batch (sensors, deferral, mapping, setup/teardown, datasets,
cross-DAG triggers), measured with the scheduler creating its own runs too:
- `--watch`: watch_runs.py's snapshots; each entry gets `other_run_types` (the kinds of run the
  scheduler, datasets or TriggerDagRunOperator made for that DAG besides the measured one), and
  the DAGs in WAITS get `waits` (how long Airflow's run took, and the states it held meanwhile,
  checked against every snapshot from the first that shows them until the wait ended).
- `--mapped-ti`: mapped_ti.py's answers, stored with the mapped example.
- `--merge-into`: the entries of an earlier measurement that this one does not cover are kept.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime

from airflow.models import DagRun
from airflow.models.dagbag import DagBag
from airflow.utils.session import create_session

DEPENDS_ON = {
    "example_weekday_branch_operator": "utc_weekday_when_the_branch_runs",
    "example_branch_datetime_operator_2": "utc_time_of_day_when_the_branch_runs",
    "example_branch_dop_operator_v3": "logical_date_minute_parity",
    "example_sensors": "utc_weekday_when_the_day_of_week_sensor_pokes",
}
REFUSED_PARAM = {"example_params_ui_tutorial": "required_field"}
CLOCK_METHOD = "dag.test() with airflow.utils.timezone.utcnow patched to instant"
SUBSET_METHOD = (
    "dag.partial_subset() of only_task, dag.test() with airflow.utils.timezone.utcnow patched to instant;"
    " that task's state put into the measured manual run's states"
)
# Runs that outlast a conformance run (minutes to an hour): the states they hold while they wait.
WAITS = {
    # TimeSensorAsync(target = time of day when the task starts + 1 h, timeout=1, soft_fail): the
    # DateTimeTrigger carries no timeout, so the try stays deferred until that moment.
    "example_sensors": {
        "timeout_after_second_date_in_the_future_async": ["deferred"],
        "print_date_in_bash": [None],
    },
    # ExternalTaskSensor on a task group the parent DAG does not have: pokes (reschedule mode,
    # every 60 s) until its 600 s timeout.
    "example_external_task_marker_child": {
        "child_task2": ["up_for_reschedule", "scheduled", "queued", "running"],
        "child_task3": [None],
    },
}
SHARED_LOGICAL_DATE = ("example_external_task_marker_child", "example_external_task_marker_parent")
MAPPED_TI_DAG = "example_dynamic_task_mapping"


def _load(path: str) -> dict:
    with open(path) as handle:
        return json.load(handle)


def _key(ti) -> str:
    return ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"


def _options(arguments: list[str]) -> dict[str, str]:
    options = {}
    while arguments:
        name, value, *arguments = arguments
        options[name.removeprefix("--")] = value
    return options


def _clock_cases(dag_id: str, cases: dict, measured_states: dict) -> dict:
    out = {}
    for name, case in sorted(cases[dag_id].items()):
        if "only_task" in case:
            states = dict(measured_states)
            states[case["only_task"]] = case["task_states"][case["only_task"]]
            out[name] = {"measured_by": SUBSET_METHOD, "only_task": case["only_task"], "instant": case["instant"]}
            out[name].update(run_state=None, task_states=dict(sorted(states.items())))
        else:
            out[name] = {"measured_by": CLOCK_METHOD, "instant": case["instant"], "run_state": case["run_state"]}
            out[name]["task_states"] = dict(sorted(case["task_states"].items()))
    return out


def _waits(dag_id: str, run, final: dict, snapshots: list[dict]) -> dict:
    """From the first snapshot where every other task had ended as it ends and the waiting tasks were
    in their WAITS states, until the wait ended, every snapshot must show exactly that."""
    still_waiting = WAITS[dag_id]
    allowed = {task_key: [state] for task_key, state in final.items()} | still_waiting

    def _holds(tis: dict) -> bool:
        return all(tis[f"{task_key}[-1]"] in states for task_key, states in allowed.items())

    held: list[datetime] = []
    for snapshot in snapshots:
        state = snapshot["runs"].get(dag_id)
        if state is None:
            continue
        tis = state["tis"]
        if any(tis[f"{key}[-1]"] == final[key] and final[key] not in states for key, states in still_waiting.items()):
            break  # the wait is over (the scheduler may mark the run a little later)
        if held or (state["state"] == "running" and _holds(tis)):
            assert state["state"] == "running" and _holds(tis), f"{dag_id} at {snapshot['at']}: {state}"
            held.append(datetime.fromisoformat(snapshot["at"]))
    assert held, f"no snapshot of {dag_id} while it waited"
    if run.end_date is None:
        print(f"warning: {dag_id}'s run has not ended: export again once it has", flush=True)
    return {
        "seconds": run.end_date and round((run.end_date - run.queued_at).total_seconds()),
        "run_state": "running",
        "still_waiting": still_waiting,
        "held_for_seconds": round((held[-1] - held[0]).total_seconds()),
        "snapshots_checked": len(held),
    }


def _other_run_types(dag_id: str, measured_run_ids: set[tuple[str, str]], snapshots: list[dict]) -> list[str]:
    kinds = set()
    for snapshot in snapshots:
        for run in snapshot["other_runs"]:
            if run["dag_id"] == dag_id and (dag_id, run["run_id"]) not in measured_run_ids:
                kinds.add(run["run_type"])
    return sorted(kinds)


def main(dags_folder: str, trigger_files: str, clock_cases: str, notes_file: str, out_path: str, *rest: str) -> None:
    options = _options(list(rest))
    triggers: dict = {}
    every_trigger: set[tuple[str, str]] = set()  # runs the measurement itself triggered, re-triggers included
    for path in trigger_files.split(","):
        answers = _load(path)
        every_trigger |= {(dag_id, a["body"]["run_id"]) for dag_id, a in answers.items() if a["status"] == 200}
        triggers.update(answers)
    cases, notes = _load(clock_cases), _load(notes_file)
    snapshots, run_snapshots = None, {}  # run_snapshots: dag_id -> the snapshots of its recorded run
    if "watch" in options:
        snapshots = []
        for path in options["watch"].split(","):  # a later file follows a re-trigger, as with triggers
            watched = _load(path)
            snapshots += watched
            run_snapshots.update(dict.fromkeys(watched[0]["runs"], watched))
    bag = DagBag(dags_folder, include_examples=False)
    expected = _load(options["merge-into"]) if "merge-into" in options else {}
    with create_session() as session:
        for dag_id in sorted(bag.dags):
            entry: dict = {"file": os.path.basename(bag.dags[dag_id].fileloc)}
            answer = triggers[dag_id]
            run = None
            if answer["status"] != 200:
                entry.update(trigger="400", run_state=None, task_states={}, refused_param=REFUSED_PARAM[dag_id])
                entry["airflow_answer"] = answer
            else:
                run = session.query(DagRun).filter_by(dag_id=dag_id, run_id=answer["body"]["run_id"]).one()
                states = {_key(ti): ti.state for ti in run.get_task_instances(session=session)}
                entry.update(trigger="ok", run_state=run.state, task_states=dict(sorted(states.items())))
                entry["logical_date"] = answer["body"]["execution_date"]
            if dag_id in SHARED_LOGICAL_DATE and snapshots is not None:
                entry["trigger_with_shared_logical_date"] = list(SHARED_LOGICAL_DATE)
            if dag_id in DEPENDS_ON:
                entry["depends_on"] = DEPENDS_ON[dag_id]
                entry["cases"] = _clock_cases(dag_id, cases, entry["task_states"])
                for case in entry["cases"].values():
                    if case["run_state"] is None:
                        case["run_state"] = entry["run_state"]
            if snapshots is not None and run is not None:
                if dag_id in WAITS:
                    entry["waits"] = _waits(dag_id, run, entry["task_states"], run_snapshots[dag_id])
                entry["other_run_types"] = _other_run_types(dag_id, every_trigger, snapshots)
            if dag_id == MAPPED_TI_DAG and "mapped-ti" in options:
                measured = _load(options["mapped-ti"])
                entry["experimental_task_instance"] = {
                    task_id: {
                        "status": answer["status"],
                        # The logical date as Airflow wrote it into the message, made a placeholder.
                        "error": answer["body"].get("error", "").replace(str(run.execution_date), "{logical_date}")
                        or None,
                        "state": answer["body"].get("state"),
                    }
                    for task_id, answer in measured.items()
                }
            entry["notes"] = notes.get(dag_id, "")
            expected[dag_id] = entry
    with open(out_path, "w") as handle:
        json.dump(expected, handle, indent=2)
        handle.write("\n")
    print(len(expected), "DAG ids written to", out_path)


if __name__ == "__main__":
    main(*sys.argv[1:])
