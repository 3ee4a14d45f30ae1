"""Variables and connections read by tasks on a Celery worker, with the key from SLIPSTREAM_FERNET_KEY."""

from __future__ import annotations

from cryptography.fernet import Fernet

from tests.celery.support import start_scheduler, start_worker
from tests.engine.support import add_dag, trigger, wait_for_run
from tests.engine.test_variables_connections_e2e import SECRETS_DAG, assert_secrets_run, store_secrets


def test_a_celery_worker_reads_variables_and_connections(settings, redis_broker, monkeypatch):
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("SLIPSTREAM_FERNET_KEY", key)  # the scheduler and worker read it from here
    monkeypatch.setenv("AIRFLOW_VAR_SHADOWED", "from-env")
    settings = settings.with_overrides(fernet_key=key)
    store_secrets(settings)
    add_dag(settings, "secrets", SECRETS_DAG)
    run_id = trigger(settings, "secrets")
    with start_worker(settings, redis_broker), start_scheduler(settings, redis_broker):
        assert wait_for_run(settings, "secrets", run_id, timeout=60) == "failed"
    assert_secrets_run(settings, run_id)
    assert not (settings.home / "fernet.key").exists()  # the configured key was used, none generated
