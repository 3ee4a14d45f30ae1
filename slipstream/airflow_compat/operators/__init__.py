"""`airflow.operators`: import operators from their modules (airflow.operators.bash, ...)."""
