"""Python clients generated from openapi/experimental.yaml and openapi/v1.yaml (openapi-python-client) drive
a live server, with typed models and HTTP Basic credentials, as an outside team would use them.

The clients are generated into a temporary folder on each run and never committed. A generator warning
fails the test: it means part of the spec did not make it into the client. mypy --strict then checks
that the client's types are the spec's (`conf=42` and `slots="x"` are type errors). For /api/v1, every
operation of the spec must have its generated function, and every one that needs no path parameter
and no required query parameter is called through it: operations added to v1.yaml are covered as
they come.
"""

from __future__ import annotations

import base64
import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from slipstream.api.app import SPEC_PATH, V1_SPEC_PATH, load_spec
from tests.api.support import BASH_DAG
from tests.contract.conftest import PASSWORD, SEED_RUNS, USERNAME

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
MYPY = Path(sys.executable).with_name("mypy")
GENERATOR_CONFIG = Path(__file__).with_name("openapi-python-client.yaml")
PACKAGE = "slipstream_client"
V1_PACKAGE = "slipstream_v1_client"
TASK_ID = "runme_0"

pytestmark = pytest.mark.slow


def generate(spec: Path, package: str, folder: Path) -> Path:
    if not GENERATOR.exists():
        pytest.skip("openapi-python-client is not installed (pip install -e '.[test]')")
    result = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(spec), "--meta", "none"]
        + ["--output-path", str(folder / package), "--config", str(GENERATOR_CONFIG)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "warning" not in output.lower(), output
    return folder


def imported(folder: Path, package: str) -> Iterator[ModuleType]:
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(package)
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name == package or name.startswith(f"{package}.")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def client_folder(tmp_path_factory) -> Path:
    return generate(SPEC_PATH, PACKAGE, tmp_path_factory.mktemp("generated_client"))


@pytest.fixture(scope="module")
def generated(client_folder) -> Iterator[ModuleType]:
    yield from imported(client_folder, PACKAGE)


@pytest.fixture(scope="module")
def v1_client_folder(tmp_path_factory) -> Path:
    return generate(V1_SPEC_PATH, V1_PACKAGE, tmp_path_factory.mktemp("generated_v1_client"))


@pytest.fixture(scope="module")
def v1_generated(v1_client_folder) -> Iterator[ModuleType]:
    yield from imported(v1_client_folder, V1_PACKAGE)


def test_the_generator_names_methods_after_the_operation_ids(client_folder):
    modules = {path.stem for path in (client_folder / PACKAGE / "api").rglob("*.py")} - {"__init__"}
    assert {"trigger_dag_run", "get_latest_runs", "list_pools", "get_task_instance"} <= modules
    assert not [name for name in modules if name.startswith("handlers")]


def test_every_operation_through_the_generated_client(generated, live_server):
    server = live_server
    from slipstream_client.api.dag_runs import get_dag_run_state, get_latest_runs, list_dag_runs, trigger_dag_run
    from slipstream_client.api.dags import delete_dag, delete_dag_alias, get_dag_code, get_dag_paused, set_dag_paused
    from slipstream_client.api.lineage import get_lineage
    from slipstream_client.api.meta import get_info, get_test
    from slipstream_client.api.pools import create_pool, delete_pool, get_pool, list_pools
    from slipstream_client.api.tasks import get_task, get_task_instance
    from slipstream_client.models import (
        ApiStatus,
        DagDeleted,
        DagRunConf,
        DagRunListItem,
        DagRunState,
        Error,
        Info,
        IsPaused,
        LatestRuns,
        Lineage,
        PausedChanged,
        Pool,
        PoolInput,
        Task,
        TaskInstance,
        TriggerRequest,
        TriggerResponse,
    )

    token = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    client = generated.AuthenticatedClient(base_url=f"{server.base_url}/api/experimental", token=token, prefix="Basic")
    anonymous = generated.Client(base_url=f"{server.base_url}/api/experimental")

    refused = get_test.sync_detailed(client=anonymous)
    assert refused.status_code == 401 and isinstance(refused.parsed, Error)

    assert isinstance(get_test.sync(client=client), ApiStatus)
    assert isinstance(get_info.sync(client=client), Info)

    conf = DagRunConf.from_dict({"source": "generated client"})
    body = TriggerRequest(conf=conf, execution_date="2031-01-02T03:04:05+00:00", run_id="from_client")
    created = trigger_dag_run.sync(dag_id=BASH_DAG, client=client, body=body)
    assert isinstance(created, TriggerResponse) and created.run_id == "from_client"
    with_string_conf = TriggerRequest(conf='{"a": 1}', replace_microseconds=True)
    assert isinstance(trigger_dag_run.sync(dag_id=BASH_DAG, client=client, body=with_string_conf), TriggerResponse)

    runs = list_dag_runs.sync(dag_id=BASH_DAG, client=client)
    assert isinstance(runs, list) and all(isinstance(run, DagRunListItem) for run in runs)
    assert "from_client" in {run.run_id for run in runs}
    state = get_dag_run_state.sync(dag_id=BASH_DAG, execution_date=created.execution_date, client=client)
    assert isinstance(state, DagRunState)
    latest = get_latest_runs.sync(client=client)
    assert isinstance(latest, LatestRuns) and BASH_DAG in {item.dag_id for item in latest.items}

    seeded_date = SEED_RUNS[1]["execution_date"]
    instance = get_task_instance.sync(dag_id=BASH_DAG, execution_date=seeded_date, task_id=TASK_ID, client=client)
    assert isinstance(instance, TaskInstance) and instance.task_id == TASK_ID
    task = get_task.sync(dag_id=BASH_DAG, task_id=TASK_ID, client=client)
    assert isinstance(task, Task) and task.task_id == TASK_ID
    lineage = get_lineage.sync(dag_id=BASH_DAG, execution_date=seeded_date, client=client)
    assert isinstance(lineage, Lineage)

    code = get_dag_code.sync_detailed(dag_id=BASH_DAG, client=client)
    assert code.status_code == 200 and b"example_bash_operator" in code.content
    assert isinstance(set_dag_paused.sync(dag_id=BASH_DAG, paused="true", client=client), PausedChanged)
    paused = get_dag_paused.sync(dag_id=BASH_DAG, client=client)
    assert isinstance(paused, IsPaused) and paused.is_paused is True
    set_dag_paused.sync(dag_id=BASH_DAG, paused="false", client=client)

    pool = create_pool.sync(client=client, body=PoolInput(name="client_pool", slots=3, description="from the client"))
    assert isinstance(pool, Pool) and pool.slots == 3
    assert isinstance(get_pool.sync(name="client_pool", client=client), Pool)
    assert "client_pool" in {p.pool for p in list_pools.sync(client=client) or []}
    assert isinstance(delete_pool.sync(name="client_pool", client=client), Pool)
    gone = get_pool.sync_detailed(name="client_pool", client=client)
    assert gone.status_code == 404 and isinstance(gone.parsed, Error)

    assert isinstance(delete_dag.sync(dag_id="client_retired_1", client=client), DagDeleted)
    assert isinstance(delete_dag_alias.sync(dag_id="client_retired_2", client=client), DagDeleted)

    refused_default = delete_pool.sync_detailed(name="default_pool", client=client)
    assert refused_default.status_code == 400 and isinstance(refused_default.parsed, Error)
    assert refused_default.parsed.error == "default_pool cannot be deleted"


TYPED_CALLS = """
from {package}.models import DagRunConf, PoolInput, TriggerRequest

TriggerRequest(conf=DagRunConf.from_dict({{"a": 1}}), replace_microseconds=True)
TriggerRequest(conf='{{"a": 1}}', replace_microseconds="yes", execution_date="2030-01-01")
PoolInput(name="p", slots=3)
"""
MISTYPED_CALLS = {
    "conf=42": "from {package}.models import TriggerRequest\nTriggerRequest(conf=42)\n",
    'slots="x"': 'from {package}.models import PoolInput\nPoolInput(name="p", slots="x")\n',
    "replace_microseconds=1.5": (
        "from {package}.models import TriggerRequest\nTriggerRequest(replace_microseconds=1.5)\n"
    ),
}


def mypy_strict(folder: Path, source: str, package: str = PACKAGE) -> subprocess.CompletedProcess:
    script = folder / "calls.py"
    script.write_text(source.format(package=package), encoding="utf-8")
    return subprocess.run(
        [str(MYPY), "--strict", "--no-incremental", "--cache-dir", "/dev/null", package, "calls.py"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def typing_folder(client_folder, tmp_path) -> Path:
    if not MYPY.exists():
        pytest.skip("mypy is not installed (pip install -e '.[test]')")
    shutil.copytree(client_folder / PACKAGE, tmp_path / PACKAGE)
    return tmp_path


def test_the_client_and_well_typed_calls_pass_mypy_strict(typing_folder):
    result = mypy_strict(typing_folder, TYPED_CALLS)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("call", sorted(MISTYPED_CALLS))
def test_a_mistyped_field_fails_mypy_strict(typing_folder, call):
    result = mypy_strict(typing_folder, MISTYPED_CALLS[call])
    assert result.returncode == 1, result.stdout
    assert "calls.py:2: error: Argument" in result.stdout, result.stdout


# -- /api/v1 ----------------------------------------------------------------------------------------

V1_HTTP_METHODS = ("get", "put", "post", "delete", "patch")


def v1_operations() -> list[tuple[str, str, dict, list[dict]]]:
    spec = load_spec(V1_SPEC_PATH)
    shared = spec.get("components", {}).get("parameters", {})
    found = []
    for path, item in spec["paths"].items():
        for method in V1_HTTP_METHODS:
            if method in item:
                parameters = [*item.get("parameters", []), *item[method].get("parameters", [])]
                parameters = [shared[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p for p in parameters]
                found.append((method.upper(), path, item[method], parameters))
    return found


def generated_function(package: ModuleType, operation: dict) -> ModuleType:
    """The generated module of an operation: api/<its first tag>/<its operationId in snake_case>.py."""
    from openapi_python_client.strings import snake_case

    tag = snake_case(operation.get("tags", ["default"])[0])
    return importlib.import_module(f"{package.__name__}.api.{tag}.{snake_case(operation['operationId'])}")


def test_every_v1_operation_has_its_generated_function(v1_generated):
    operations = v1_operations()
    assert {"getHealth", "getVersion"} <= {operation["operationId"] for _, _, operation, _ in operations}
    for method, path, operation, _ in operations:
        module = generated_function(v1_generated, operation)
        assert callable(getattr(module, "sync_detailed", None)), (method, path)


def test_every_v1_operation_without_parameters_through_the_generated_client(v1_generated, live_server):
    """GETs that need no path parameter and no required query parameter, with credentials: no 5xx, and
    a 200's body parses into the generated model. The rest are driven per area, in tests/api/v1/client/."""
    token = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    client = v1_generated.AuthenticatedClient(base_url=f"{live_server.base_url}/api/v1", token=token, prefix="Basic")
    called = []
    for method, path, operation, parameters in v1_operations():
        if method != "GET" or any(p["in"] == "path" or p.get("required") for p in parameters):
            continue
        response = generated_function(v1_generated, operation).sync_detailed(client=client)
        assert response.status_code < 500, (path, response.status_code, response.content[:500])
        if response.status_code == 200 and "application/json" in response.headers.get("content-type", ""):
            assert response.parsed is not None, (path, response.content[:500])
        called.append(operation["operationId"])
    assert {"getHealth", "getVersion"} <= set(called)


def test_the_v1_client_reads_health_and_version_and_a_401(v1_generated, live_server):
    from slipstream_v1_client.api.monitoring import get_health, get_version
    from slipstream_v1_client.models import Error, HealthInfo, VersionInfo

    token = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    client = v1_generated.AuthenticatedClient(base_url=f"{live_server.base_url}/api/v1", token=token, prefix="Basic")
    anonymous = v1_generated.Client(base_url=f"{live_server.base_url}/api/v1")

    health = get_health.sync(client=anonymous)
    assert isinstance(health, HealthInfo) and health.metadatabase.status == "healthy"
    version = get_version.sync(client=client)
    assert isinstance(version, VersionInfo) and version.version == "2.10.5"
    refused = get_version.sync_detailed(client=anonymous)
    assert refused.status_code == 401 and isinstance(refused.parsed, Error)
    assert refused.parsed.title == "Unauthorized" and refused.parsed.status == 401


V1_TYPED_CALLS = """
from {package}.models import Error, VersionInfo

VersionInfo(version="2.10.5", git_version=None)
Error(type_="about:blank", title=None, status=404, detail="gone")
"""
V1_MISTYPED_CALLS = {
    "version=1": "from {package}.models import VersionInfo\nVersionInfo(version=1)\n",
    'status="404"': 'from {package}.models import Error\nError(type_="about:blank", title=None, status="404")\n',
}


@pytest.fixture
def v1_typing_folder(v1_client_folder, tmp_path) -> Path:
    if not MYPY.exists():
        pytest.skip("mypy is not installed (pip install -e '.[test]')")
    shutil.copytree(v1_client_folder / V1_PACKAGE, tmp_path / V1_PACKAGE)
    return tmp_path


def test_the_v1_client_and_well_typed_calls_pass_mypy_strict(v1_typing_folder):
    result = mypy_strict(v1_typing_folder, V1_TYPED_CALLS, V1_PACKAGE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("call", sorted(V1_MISTYPED_CALLS))
def test_a_mistyped_v1_field_fails_mypy_strict(v1_typing_folder, call):
    result = mypy_strict(v1_typing_folder, V1_MISTYPED_CALLS[call], V1_PACKAGE)
    assert result.returncode == 1, result.stdout
    assert "calls.py:2: error: Argument" in result.stdout, result.stdout
