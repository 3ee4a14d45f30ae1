"""`airflow.example_dags`: only what Airflow's example DAGs import from it."""
