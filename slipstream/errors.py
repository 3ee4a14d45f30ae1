"""Domain errors. Each carries the HTTP status the API answers with and Airflow's message."""

from __future__ import annotations


class SlipstreamError(Exception):
    status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadRequest(SlipstreamError):
    status = 400


class NotFound(SlipstreamError):
    status = 404


class Conflict(SlipstreamError):
    status = 409


class PayloadTooLarge(SlipstreamError):
    status = 413
