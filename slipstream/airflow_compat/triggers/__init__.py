"""`airflow.triggers`: import triggers from their modules."""
