"""The dag processor: DAG files -> serialized DAGs in the metadata DB.

DAG files are user code, so they are only ever imported in a child process (a fresh interpreter
running `child.py`, with a timeout, killed with its process group when it overruns). The API and
the scheduler read the serialized DAGs from the DB and never import a DAG file.

    process_file(path, timeout) -> FileResult      one file, in a child: dags, source, error
    process_all(settings) -> ProcessingReport      one pass over the DAGs folder (+ examples),
                                                   synced in one write transaction
    run_dag_processor(settings, stop_event)        a pass every settings.dag_dir_list_interval s
                                                   (`slipstream dag-processor`)

Which files: every `*.py` under settings.dags_folder (recursively, not in `__pycache__` or hidden
folders, not named `.*` or `_*`) that mentions both "dag" and "airflow" or "slipstream" (Airflow's
safe mode), plus `slipstream/example_dags/*.py` when settings.load_examples (then the pool
`example_single_slot_pool`, 1 slot, is created if absent, for `example_pool`). The DAGs folder is
put first on the child's sys.path, so DAG files can import helper modules kept beside them.

Running it inside another process (what `slipstream standalone` does):

    from slipstream.dag_processing import DagFileProcessorThread

    processor = DagFileProcessorThread(settings)   # optional: interval=seconds
    processor.start()
    processor.wait_for_first_pass(timeout=60)      # optional: the DAGs are in the DB
    ...
    processor.stop()                               # kills a running child, joins the thread

The thread is a daemon, so a process that exits without calling stop() does not hang on it.
"""

from slipstream.dag_processing.manager import (
    EXAMPLE_DAGS_FOLDER,
    DagFileProcessorThread,
    FileCache,
    ProcessingReport,
    list_dag_files,
    might_contain_dag,
    process_all,
    run_dag_processor,
)
from slipstream.dag_processing.parsing import FileResult, ParsingCancelled, process_file, timeout_message
from slipstream.dag_processing.sync import EXAMPLE_POOL_NAME

__all__ = [
    "EXAMPLE_DAGS_FOLDER",
    "EXAMPLE_POOL_NAME",
    "DagFileProcessorThread",
    "FileCache",
    "FileResult",
    "ParsingCancelled",
    "ProcessingReport",
    "list_dag_files",
    "might_contain_dag",
    "process_all",
    "process_file",
    "run_dag_processor",
    "timeout_message",
]
