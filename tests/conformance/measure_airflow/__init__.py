"""Scripts that measured real Airflow 2.10.5 for airflow_2_10_5_expected.json.

They run with apache-airflow installed (its own virtualenv, outside this repository), never in the
test suite; tests/conformance/README.md says how they were used.
"""
