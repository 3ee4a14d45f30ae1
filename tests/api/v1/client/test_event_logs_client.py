"""EventLogApi of apache-airflow-client: the rows the client's own changes wrote, owned by its user."""

from __future__ import annotations

import json

from airflow_client.client.api import event_log_api, variable_api
from airflow_client.client.model.variable import Variable

from tests.api.v1.client.conftest import USERNAME


def test_the_clients_changes_are_in_the_event_log(api_client):
    variable_api.VariableApi(api_client).post_variables(Variable(key="api_token", value="s3cret"))
    api = event_log_api.EventLogApi(api_client)
    logged = api.get_event_logs(event="api.variable.create", owner=USERNAME, order_by="-when", limit=1)
    assert logged.total_entries == 1
    entry = logged.event_logs[0]
    assert json.loads(entry.extra) == {"key": "api_token", "value": "***"}
    assert entry.owner == USERNAME
    again = api.get_event_log(entry.event_log_id)
    assert (again.event, again.when) == (entry.event, entry.when)
    assert api.get_event_logs(excluded_events="api.variable.create", owner=USERNAME).total_entries == 0
