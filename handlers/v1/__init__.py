"""Handlers of Airflow's stable REST API (`/api/v1`, openapi/v1.yaml): one module per resource group."""
