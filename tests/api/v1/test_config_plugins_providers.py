"""/api/v1/config (403 unless exposed, 406 first), /plugins and /providers (health_version_config.json)."""

from __future__ import annotations

import pytest

from slipstream.api.app import create_app
from tests.api.v1._replay import check, replay
from tests.api.v1.golden import exchange

V1 = "/api/v1"


@pytest.mark.parametrize("seq", [2, 3, 4, 5])
def test_config_is_not_exposed_by_default(client, seq):
    check(client, seq)


def test_no_accept_header_is_a_406_before_the_403(client):
    response = client.get(f"{V1}/config", headers={"Accept": ""})
    assert response.status_code == 406
    assert response.content == b""


@pytest.fixture
def exposed(app_settings):
    settings = app_settings.with_overrides(expose_config="non-sensitive-only", fernet_key="a-secret-key")
    return create_app(settings, validate_responses=True).test_client()


@pytest.mark.parametrize("seq", [507, 510, 511, 512])
def test_exposed_config_answers_as_airflow(exposed, seq):
    check(exposed, seq)


def test_exposed_config_lists_slipstreams_settings_in_airflows_shape(exposed, app_settings):
    body = exposed.get(f"{V1}/config", headers={"Accept": "application/json"}).json()
    sections = {s["name"]: {o["key"]: o["value"] for o in s["options"]} for s in body["sections"]}
    assert sections["core"]["dags_folder"] == str(app_settings.dags_folder)
    assert sections["core"]["parallelism"] == "32"
    assert sections["core"]["load_examples"] == "True"
    assert sections["core"]["fernet_key"] == "< hidden >"
    assert sections["database"]["sql_alchemy_conn"] == "< hidden >"
    assert sections["api"]["maximum_page_limit"] == "100"
    assert sections["slipstream"]["http_header_timeout"] == "10.0"
    assert "a-secret-key" not in str(body)
    assert set(body["sections"][0]) == set(exchange(503)["response"]["body"]["sections"][0])


def test_exposed_config_as_text_is_airflow_cfg(exposed):
    response = exposed.get(f"{V1}/config", params={"section": "api"}, headers={"Accept": "text/plain"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain"
    assert response.text.startswith("[api]\n")
    assert "maximum_page_limit = 100\n" in response.text
    one = replay(exposed, 509)
    assert one.text == exchange(509)["response"]["body"]  # "[core]\nparallelism = 32\n"


def test_one_option_is_a_section_of_one(exposed, app_settings):
    body = replay(exposed, 508).json()
    assert body == {
        "sections": [{"name": "core", "options": [{"key": "dags_folder", "value": str(app_settings.dags_folder)}]}]
    }


def test_everything_exposed_shows_secrets_except_single_options(app_settings):
    settings = app_settings.with_overrides(expose_config="true", fernet_key="a-secret-key")
    client = create_app(settings, validate_responses=True).test_client()
    body = client.get(f"{V1}/config", params={"section": "core"}, headers={"Accept": "application/json"}).json()
    assert {"key": "fernet_key", "value": "a-secret-key"} in body["sections"][0]["options"]
    # Airflow hides a sensitive option asked for alone, whatever expose_config says.
    assert replay(client, 510).json() == exchange(510)["response"]["body"]


def test_plugins_are_slipstreams_own_and_the_plugin_folders(client, tmp_path, monkeypatch):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "my_plugin.py").write_text(
        "from airflow.plugins_manager import AirflowPlugin\n"
        "import json\n"
        "print('noise on stdout')\n"
        "class MyPlugin(AirflowPlugin):\n"
        "    name = 'my_plugin'\n"
        "    macros = [json.dumps]\n"
    )
    (folder / "broken.py").write_text("raise RuntimeError('broken plugin')\n")
    monkeypatch.setenv("SLIPSTREAM_PLUGINS_FOLDER", str(folder))
    body = client.get(f"{V1}/plugins").json()
    assert body["total_entries"] == 2
    workday, mine = body["plugins"]
    assert workday["name"] == "workday_timetable_plugin"
    assert workday["timetables"] == ["slipstream.sdk.workday.AfterWorkdayTimetable"]
    assert set(workday) == set(exchange(6)["response"]["body"]["plugins"][0])
    assert mine["name"] == "my_plugin"
    assert mine["macros"] == ["json.dumps"]
    assert mine["source"] == "$PLUGINS_FOLDER/my_plugin.py"
    page = client.get(f"{V1}/plugins", params={"limit": 1, "offset": 1}).json()
    assert page == {"plugins": [mine], "total_entries": 2}


def test_without_a_plugins_folder_only_slipstreams_plugin_is_listed(client, tmp_path, monkeypatch):
    monkeypatch.setenv("SLIPSTREAM_PLUGINS_FOLDER", str(tmp_path / "none"))
    body = replay(client, 7).json()
    assert body["total_entries"] == 1
    assert [p["name"] for p in body["plugins"]] == ["workday_timetable_plugin"]


def test_providers_are_the_installed_provider_packages(client):
    from importlib import metadata

    installed = sorted(
        d.metadata["Name"].lower()
        for d in metadata.distributions()
        if d.metadata["Name"].lower().startswith("apache-airflow-providers-")
    )
    body = replay(client, 8).json()
    assert [p["package_name"] for p in body["providers"]] == installed
    assert body["total_entries"] == len(installed)
    assert set(body) == set(exchange(8)["response"]["body"])


def test_a_plugin_file_that_hangs_is_given_up_on_once(app_settings, tmp_path, monkeypatch):
    import time

    folder = tmp_path / "hanging_plugins"
    folder.mkdir()
    (folder / "slow.py").write_text("import time\ntime.sleep(60)\n")
    monkeypatch.setenv("SLIPSTREAM_PLUGINS_FOLDER", str(folder))
    client = create_app(app_settings.with_overrides(dag_file_processor_timeout=1.0)).test_client()
    started = time.monotonic()
    first = client.get(f"{V1}/plugins").json()
    second = client.get(f"{V1}/plugins").json()
    assert time.monotonic() - started < 10  # one timeout, then the kept answer
    assert first == second
    assert [p["name"] for p in first["plugins"]] == ["workday_timetable_plugin"]
