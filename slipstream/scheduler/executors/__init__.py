"""Executors: where task tries run. LocalExecutor (this machine, a fork server); Celery later."""
