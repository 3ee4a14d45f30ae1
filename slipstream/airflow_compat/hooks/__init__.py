"""`airflow.hooks`: import hooks from their modules (airflow.hooks.base)."""
