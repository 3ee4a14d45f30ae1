"""POST /api/v1/connections/test, for what Slipstream can test honestly without provider hooks.

Airflow asks the connection type's hook to log in. Slipstream has no hooks, so it tests reachability
only: that the host accepts a TCP connection on the connection's port (or the type's usual port), or,
for `sqlite`, that the host names an SQLite database file. The message says what was (not) tested.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from slipstream.sdk.connections import Connection

# The usual port of connection types whose port a connection often leaves out.
DEFAULT_PORTS = {
    "postgres": 5432,
    "mysql": 3306,
    "mssql": 1433,
    "oracle": 1521,
    "redis": 6379,
    "mongo": 27017,
    "ftp": 21,
    "sftp": 22,
    "ssh": 22,
    "smtp": 25,
    "imap": 143,
    "amqp": 5672,
    "elasticsearch": 9200,
    "cassandra": 9042,
    "vertica": 5433,
    "trino": 8080,
    "presto": 8080,
    "kafka": 9092,
}
_SQLITE_HEADER = b"SQLite format 3\x00"


def _http_port(connection: Connection) -> int:
    scheme = (connection.schema or "").lower()
    host = (connection.host or "").lower()
    return 443 if scheme == "https" or host.startswith("https://") else 80


def _host_only(host: str) -> str:
    """`https://example.com/path` -> `example.com`, as an HTTP connection's host may be written."""
    if "://" in host:
        host = host.split("://", 1)[1]
    return host.split("/", 1)[0].rsplit("@", 1)[-1]


def _test_sqlite(path_text: str) -> tuple[bool, str]:
    path = Path(path_text).expanduser()
    try:
        with path.open("rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
    except (OSError, ValueError) as exc:
        return False, f"Could not open the SQLite database {path}: {getattr(exc, 'strerror', None) or exc}"
    if header != _SQLITE_HEADER and header:
        return False, f"{path} is not an SQLite database"
    return True, f"{path} is an SQLite database (Slipstream checked the file, it ran no query)"


async def test_connection(connection: Connection, *, timeout: float) -> tuple[bool, str]:
    """(status, message) for the connection described, stored nowhere."""
    conn_type = (connection.conn_type or "").lower()
    if conn_type == "sqlite":
        if not connection.host:
            return False, "An sqlite connection names its database file as its host"
        return await asyncio.to_thread(_test_sqlite, connection.host)
    if not connection.host:
        return False, (
            "Slipstream has no hook to log in with; it can only test that a connection's host accepts TCP "
            "connections, and this connection names no host"
        )
    host = _host_only(connection.host)
    port = connection.port
    if port is None:
        port = _http_port(connection) if conn_type in ("http", "https") else DEFAULT_PORTS.get(conn_type)
    if port is None:
        return False, (
            f"Slipstream has no hook for conn_type {connection.conn_type!r} and the connection names no port: "
            "nothing to test"
        )
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except TimeoutError:
        return False, f"{host}:{port} did not accept a TCP connection within {timeout:g} s"
    except (OSError, OverflowError, ValueError, UnicodeError) as exc:
        return False, f"Could not connect to {host}:{port}: {getattr(exc, 'strerror', None) or exc}"
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return True, (
        f"Connection successfully tested: {host}:{port} accepts TCP connections "
        "(Slipstream has no hooks: no login was tried)"
    )
