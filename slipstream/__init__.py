"""Slipstream: Apache Airflow's experimental REST API, contract-first, backed by a real engine."""

import warnings

__version__ = "0.1.0"

# Connexion imports Starlette's test client at import time, which warns about httpx; not ours to fix.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
