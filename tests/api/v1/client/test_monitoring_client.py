"""MonitoringApi of apache-airflow-client against the live server."""

from __future__ import annotations

import pytest
from airflow_client.client.api import monitoring_api
from airflow_client.client.exceptions import UnauthorizedException


def test_the_client_reads_health_without_credentials(anonymous_client):
    health = monitoring_api.MonitoringApi(anonymous_client).get_health()
    assert health.metadatabase.status.value == "healthy"


def test_the_client_reads_the_version(api_client):
    assert monitoring_api.MonitoringApi(api_client).get_version().version == "2.10.5"


def test_the_version_needs_credentials(anonymous_client):
    with pytest.raises(UnauthorizedException) as caught:
        monitoring_api.MonitoringApi(anonymous_client).get_version()
    assert caught.value.status == 401
