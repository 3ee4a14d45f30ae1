"""The child side of DAG parsing: import one DAG file, serialize its DAGs, write JSON to stdout.

Run as a script, never imported by a server process (it executes user code):

    python -P child.py /abs/path/dag_file.py [--sys-path DIR]... [--fallback-path DIR]...

It imports only the standard library and `slipstream.sdk`, so a child starts in about 0.1 s.
Anything the DAG file prints goes to stderr; stdout carries exactly one JSON document:

    {"dags": [serialized DAG, ...], "source": "<file text>", "error": "<traceback>" | null}
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import sys
import traceback
import types
from typing import Any


def _format_exception(exc: BaseException, filename: str) -> str:
    """A traceback that starts at the DAG file's own frame: the importer's frames help nobody."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    # No frame in the file (a SyntaxError): the exception itself names the file and line.
    return "".join(traceback.format_exception(type(exc), exc, tb)).rstrip("\n")


def _module_name(filename: str) -> str:
    stem = os.path.splitext(os.path.basename(filename))[0]
    digest = hashlib.sha1(filename.encode()).hexdigest()[:16]
    safe_stem = "".join(c if c.isalnum() or c == "_" else "_" for c in stem)
    return f"slipstream_dagfile_{digest}_{safe_stem}"


def _find_cycle(dag: Any) -> str | None:
    """The task at which a cycle closes, or None; Airflow refuses cyclic DAGs at parse time."""
    visiting: set[str] = set()
    done: set[str] = set()
    for root in dag.task_dict:
        if root in done:
            continue
        stack: list[tuple[str, list[str]]] = [(root, sorted(dag.task_dict[root].downstream_task_ids))]
        visiting.add(root)
        while stack:
            task_id, pending = stack[-1]
            if not pending:
                stack.pop()
                visiting.discard(task_id)
                done.add(task_id)
                continue
            nxt = pending.pop()
            if nxt in visiting:
                return nxt
            if nxt not in done and nxt in dag.task_dict:
                visiting.add(nxt)
                stack.append((nxt, sorted(dag.task_dict[nxt].downstream_task_ids)))
    return None


def parse(filename: str) -> dict[str, Any]:
    """Import `filename` as a fresh module and serialize every DAG it defines."""
    with open(filename, "rb") as handle:
        raw = handle.read()
    source = importlib.util.decode_source(raw)

    from slipstream import airflow_namespace
    from slipstream.sdk.dag import DAG, DagContext
    from slipstream.sdk.params import check_schedule_and_params
    from slipstream.sdk.serialization import serialize_dag
    from slipstream.sdk.setup_teardown import validate_setup_teardown

    airflow_namespace.install()

    # DAGs opened with `with DAG(...)` count even when not assigned to a global (Airflow's auto-register).
    entered: list[DAG] = []
    original_push = DagContext.push

    def recording_push(dag: DAG) -> None:
        entered.append(dag)
        original_push(dag)

    DagContext.push = staticmethod(recording_push)  # type: ignore[method-assign]

    module_name = _module_name(filename)
    module = types.ModuleType(module_name)
    module.__file__ = filename
    sys.modules[module_name] = module
    try:
        # compile() + exec() instead of a loader: no .pyc cache that could hide a same-size edit.
        code = compile(raw, filename, "exec", dont_inherit=True)
        exec(code, module.__dict__)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from user code too
        airflow_namespace.annotate_import_error(exc)
        return {"dags": [], "source": source, "error": _format_exception(exc, filename)}

    found: list[DAG] = []
    # auto_register=False: only a DAG the module keeps in a global counts (Airflow's rule).
    registered = [dag for dag in entered if getattr(dag, "auto_register", True)]
    for candidate in [*module.__dict__.values(), *registered]:
        if isinstance(candidate, DAG) and all(candidate is not seen for seen in found):
            found.append(candidate)

    errors: list[str] = []
    dags: list[dict[str, Any]] = []
    kept: dict[str, DAG] = {}
    for dag in found:
        if dag.dag_id in kept:
            errors.append(
                f"AirflowDagDuplicatedIdException: Ignoring DAG {dag.dag_id} from {filename} - also found in {filename}"
            )
            continue
        faulty = _find_cycle(dag)
        if faulty is not None:
            errors.append(f"AirflowDagCycleException: Cycle detected in DAG: {dag.dag_id}. Faulty task: {faulty}")
            continue
        try:  # again after the import: params may have been added after the DAG was built
            check_schedule_and_params(dag)
            validate_setup_teardown(dag)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        kept[dag.dag_id] = dag
        dag.fileloc = filename
        try:
            dags.append(serialize_dag(dag))
        except Exception as exc:  # a DAG we cannot store is an import error, not a crash
            errors.append(f"Failed to serialize DAG {dag.dag_id!r}:\n{_format_exception(exc, filename)}")
    return {"dags": dags, "source": source, "error": "\n".join(errors) or None}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("filename")
    parser.add_argument("--sys-path", action="append", default=[], help="put first on sys.path (the DAGs folder)")
    parser.add_argument("--fallback-path", action="append", default=[], help="put last on sys.path")
    args = parser.parse_args(argv)

    # Keep stdout for our JSON alone: the DAG file's prints (and C-level writes) go to stderr.
    result_fd = os.dup(1)
    os.dup2(2, 1)

    for entry in reversed(args.sys_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    for entry in args.fallback_path:
        if entry not in sys.path:
            sys.path.append(entry)

    filename = os.path.abspath(args.filename)
    try:
        result = parse(filename)
    except BaseException as exc:  # unreadable file, broken SDK import: still report it
        result = {"dags": [], "source": "", "error": _format_exception(exc, filename)}

    import orjson

    payload = orjson.dumps(result, default=str)
    with os.fdopen(result_fd, "wb") as out:
        out.write(payload)
    sys.stderr.flush()
    # Skip interpreter shutdown: threads or atexit hooks a DAG file started must not hold us up.
    os._exit(0)


if __name__ == "__main__":
    main()
