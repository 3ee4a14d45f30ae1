"""`airflow.utils`: import helpers from their modules (airflow.utils.trigger_rule, ...)."""
