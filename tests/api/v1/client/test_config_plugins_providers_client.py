"""ConfigApi, PluginApi and ProviderApi of apache-airflow-client, on a server that exposes its settings
(non-sensitive values only)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from airflow_client.client.api import config_api, plugin_api, provider_api

from slipstream.services import users
from slipstream.storage.db import session_scope
from tests.api.support import api_settings, copy_database, drop_database
from tests.api.v1.client.conftest import PASSWORD, USERNAME
from tests.live_server import ApiServer


@pytest.fixture(scope="module")
def v1_server(example_dags_database, postgres_databases, tmp_path_factory) -> Iterator[ApiServer]:
    home = tmp_path_factory.mktemp("v1_client_config")
    settings = api_settings(home, database_url=copy_database(example_dags_database, home, postgres_databases))
    settings.dags_folder.mkdir(parents=True, exist_ok=True)
    with session_scope(settings.database_url) as session:
        users.create_user(session, USERNAME, PASSWORD, actor={"username": None, "remote_addr": None})
    exposed = settings.with_overrides(auth_backend="basic_auth", expose_config="non-sensitive-only")
    # The server reads its settings from the environment, as `slipstream api` does.
    with ApiServer(exposed, log=home / "api.log", SLIPSTREAM_EXPOSE_CONFIG="non-sensitive-only") as api:
        api.settings = exposed
        yield api
    drop_database(settings.database_url, postgres_databases)


def test_the_client_reads_the_exposed_config(api_client):
    api = config_api.ConfigApi(api_client)
    config = api.get_config(section="core")
    options = {o.key: o.value for o in config.sections[0].options}
    assert options["fernet_key"] == "< hidden >"
    assert options["parallelism"] == "32"
    value = api.get_value("core", "parallelism")
    assert value.sections[0].options[0].value == "32"


def test_the_client_lists_plugins_and_providers(api_client):
    plugins = plugin_api.PluginApi(api_client).get_plugins()
    assert "workday_timetable_plugin" in [p.name for p in plugins.plugins]
    # The client declares no model for this answer: it hands back the parsed JSON.
    providers = provider_api.ProviderApi(api_client).get_providers()
    assert providers["total_entries"] == len(providers["providers"])
