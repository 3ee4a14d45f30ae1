"""Connections as DAG files use them: `Connection` (fields, URI and JSON forms) and `BaseHook.get_connection`.

Lookup order, as in Airflow: the environment (AIRFLOW_CONN_{ID}: a URI, or JSON when it starts
with `{`), then the metadata database. A connection fetched in a task has its password (and
sensitive extras) masked in the task's log.
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from slipstream.sdk.exceptions import AirflowException, AirflowNotFoundException

log = logging.getLogger(__name__)

EXTRA_KEY = "__extra__"
_CONN_ID = re.compile(r"^[\w#!()\-.:/\\]+$")
_CONN_ID_MAX = 250
_FIELDS = ("conn_type", "host", "login", "password", "schema", "port", "extra")


def sanitize_conn_id(conn_id: str | None) -> str | None:
    """The id, or None when Airflow would not accept it (it then drops it silently)."""
    if conn_id is None or not isinstance(conn_id, str):
        return None
    if len(conn_id) > _CONN_ID_MAX or not _CONN_ID.match(conn_id):
        return None
    return conn_id


def normalize_conn_type(conn_type: str) -> str:
    conn_type = conn_type.replace("-", "_")
    return "postgres" if conn_type == "postgresql" else conn_type


def _hostname(parts) -> str:
    """The host of a split URI; a host holding `/` (a socket path, quoted) is taken from the netloc."""
    hostname = unquote(parts.hostname or "")
    if "/" in hostname:
        hostname = parts.netloc
        if "@" in hostname:
            hostname = hostname.rsplit("@", 1)[1]
        if ":" in hostname:
            hostname = hostname.split(":", 1)[0]
        hostname = unquote(hostname)
    return hostname


class Connection:
    """A connection to an outside system. `repr()` and `str()` give the conn_id, never the password."""

    EXTRA_KEY = EXTRA_KEY

    def __init__(
        self,
        conn_id: str | None = None,
        conn_type: str | None = None,
        description: str | None = None,
        host: str | None = None,
        login: str | None = None,
        password: str | None = None,
        schema: str | None = None,
        port: int | None = None,
        extra: str | dict | None = None,
        uri: str | None = None,
    ):
        self.conn_id = sanitize_conn_id(conn_id)
        self.description = description
        if extra is not None and not isinstance(extra, str):
            extra = json.dumps(extra)
        if uri and any(v is not None for v in (conn_type, host, login, password, schema, port, extra)):
            raise AirflowException(
                "You must create an object using the URI or individual values (conn_type, host, login, "
                "password, schema, port or extra).You can't mix these two ways to create this object."
            )
        self.conn_type = conn_type
        self.host = host
        self.login = login
        self.password = password
        self.schema = schema
        self.port = port
        self.extra = extra
        if uri:
            self._parse_from_uri(uri)

    # -- URI form ------------------------------------------------------------------------------
    def _parse_from_uri(self, uri: str) -> None:
        schemes = uri.count("://")
        if schemes > 2:
            raise AirflowException(f"Invalid connection string: {uri}.")
        host_with_protocol = schemes == 2
        conn_type = urlsplit(uri).scheme
        self.conn_type = normalize_conn_type(conn_type)
        rest = uri.replace(f"{conn_type}://", "" if host_with_protocol else "//", 1)
        if host_with_protocol:
            before = rest.split("://", 1)[0]
            if "@" in before or ":" in before:
                raise AirflowException(f"Invalid connection string: {uri}.")
        parts = urlsplit(rest)
        host = _hostname(parts)
        protocol = parts.scheme if host_with_protocol else None
        self.host = f"{protocol}://{host}" if protocol else host
        quoted_schema = parts.path[1:]
        self.schema = unquote(quoted_schema) if quoted_schema else quoted_schema
        self.login = unquote(parts.username) if parts.username else parts.username
        self.password = unquote(parts.password) if parts.password else parts.password
        self.port = parts.port  # ValueError naming the bad port when it is not a number
        if parts.query:
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            self.extra = query[EXTRA_KEY] if EXTRA_KEY in query else json.dumps(query)

    def get_uri(self) -> str:
        """The URI form: `type://login:password@host:port/schema?extra`, the inverse of `uri=`."""
        uri = f"{self.conn_type.lower().replace('_', '-')}://" if self.conn_type else "//"
        if self.host and "://" in self.host:
            protocol, host = self.host.split("://", 1)
            uri += f"{protocol}://"
        else:
            host = self.host
        authority = ""
        if self.login is not None:
            authority += quote(self.login, safe="")
        if self.password is not None:
            authority += ":" + quote(self.password, safe="")
        if authority:
            uri += authority + "@"
        host_block = quote(host, safe="") if host else ""
        if self.port:
            host_block += f"@:{self.port}" if not host_block and not authority else f":{self.port}"
        if self.schema:
            host_block += f"/{quote(self.schema, safe='')}"
        uri += host_block
        if self.extra:
            separator = "?" if self.schema else "/?"
            try:
                query = urlencode(self.extra_dejson)
            except TypeError:
                query = None
            if query and self.extra_dejson == dict(parse_qsl(query, keep_blank_values=True)):
                uri += separator + query
            else:
                uri += separator + urlencode({EXTRA_KEY: self.extra})
        return uri

    # -- JSON form ------------------------------------------------------------------------------
    @classmethod
    def from_json(cls, value: str | dict, conn_id: str | None = None) -> Connection:
        kwargs = json.loads(value) if isinstance(value, str) else dict(value)
        if not isinstance(kwargs, dict):
            raise ValueError("A connection in JSON form must be an object")
        unknown = set(kwargs) - {*_FIELDS, "description", "conn_id"}
        if unknown:
            raise ValueError(f"Unknown connection field(s): {', '.join(sorted(unknown))}")
        kwargs.pop("conn_id", None)
        extra = kwargs.pop("extra", None)
        if extra:
            kwargs["extra"] = extra if isinstance(extra, str) else json.dumps(extra)
        conn_type = kwargs.pop("conn_type", None)
        if conn_type:
            kwargs["conn_type"] = normalize_conn_type(conn_type)
        port = kwargs.pop("port", None)
        if port:
            try:
                kwargs["port"] = int(port)
            except (TypeError, ValueError):
                raise ValueError(f"Expected integer value for `port`, but got {port!r} instead.") from None
        return cls(conn_id=conn_id, **kwargs)

    def as_json(self) -> str:
        """The JSON form (AIRFLOW_CONN_* accepts it); extra given as an object when it is one."""
        data: dict[str, Any] = {
            "conn_type": self.conn_type,
            "description": self.description,
            "host": self.host,
            "login": self.login,
            "password": self.password,
            "schema": self.schema,
            "port": self.port,
            "extra": self.extra,
        }
        if self.extra:
            try:
                data["extra"] = json.loads(self.extra)
            except json.JSONDecodeError:
                pass
        return json.dumps({k: v for k, v in data.items() if v not in (None, "")})

    # -- fields ------------------------------------------------------------------------------------
    @property
    def extra_dejson(self) -> dict[str, Any]:
        """The extra as a dict; {} (and an error in the log) when it is not JSON."""
        if not self.extra:
            return {}
        try:
            value = json.loads(self.extra)
        except json.JSONDecodeError:
            log.exception("Failed parsing the json for conn_id %s", self.conn_id)
            return {}
        if isinstance(value, dict):
            from slipstream.scheduler.masking import mask_secret

            mask_secret(value)
        return value

    def get_password(self) -> str | None:
        return self.password

    def get_extra(self) -> str | None:
        return self.extra

    def test_connection(self) -> tuple[bool, str]:
        return False, "Testing connections is not supported by Slipstream"

    def __repr__(self) -> str:
        return self.conn_id or ""

    # -- lookup --------------------------------------------------------------------------------
    @classmethod
    def get_connection_from_secrets(cls, conn_id: str) -> Connection:
        """Env first, then the database; AirflowNotFoundException when neither has it."""
        connection = connection_from_env(conn_id)
        if connection is None:
            from slipstream.sdk import metastore
            from slipstream.services.connections import get_connection

            with metastore.read_session() as session:
                connection = get_connection(session, conn_id, metastore.cipher())
        if connection is None:
            raise AirflowNotFoundException(f"The conn_id `{conn_id}` isn't defined")
        _mask_connection(connection)
        return connection


def connection_from_env(conn_id: str) -> Connection | None:
    raw = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if raw is None:
        return None
    if raw.lstrip().startswith("{"):
        return Connection.from_json(raw, conn_id=conn_id)
    return Connection(conn_id=conn_id, uri=raw)


def _mask_connection(connection: Connection) -> None:
    from slipstream.scheduler.masking import mask_secret

    if connection.password:
        mask_secret(connection.password)
    connection.extra_dejson  # noqa: B018 - masks sensitive extras


class BaseHook:
    """The base of hooks; DAG files use `BaseHook.get_connection(conn_id)`."""

    def __init__(self, logger_name: str | None = None):
        self.log = logging.getLogger(logger_name or f"{type(self).__module__}.{type(self).__name__}")

    @classmethod
    def get_connection(cls, conn_id: str) -> Connection:
        connection = Connection.get_connection_from_secrets(conn_id)
        log.info("Using connection ID '%s' for task execution.", connection.conn_id)
        return connection

    @classmethod
    def get_hook(cls, conn_id: str) -> BaseHook:
        raise AirflowException(f"Slipstream has no hook for connections of this type (conn_id `{conn_id}`)")

    def get_conn(self) -> Any:
        raise NotImplementedError()


class ConnectionAccessor:
    """`{{ conn.my_conn.host }}` and `{{ conn.get('my_conn') }}` (None, or the default, when not defined)."""

    def __getattr__(self, conn_id: str) -> Connection:
        if conn_id.startswith("__"):
            raise AttributeError(conn_id)
        return Connection.get_connection_from_secrets(conn_id)

    def get(self, conn_id: str, default_conn: Any = None) -> Any:
        try:
            return Connection.get_connection_from_secrets(conn_id)
        except AirflowNotFoundException:
            return default_conn

    def __repr__(self) -> str:
        return "<ConnectionAccessor>"


__all__ = [
    "BaseHook",
    "Connection",
    "ConnectionAccessor",
    "connection_from_env",
    "normalize_conn_type",
    "sanitize_conn_id",
]
