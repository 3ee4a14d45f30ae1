"""Slipstream: Apache Airflow's experimental REST API, contract-first, backed by a real engine."""

__version__ = "0.1.0"
