"""`airflow.sensors`: import sensors from their modules."""
