"""uvicorn's HTTP protocol answering requests it cannot parse with the JSON error every other 4xx has.

httptools refuses a request whose method it does not know (`BREW /api/experimental/test`) or that is
otherwise malformed before any ASGI app sees it, and uvicorn then writes a plain-text 400. This class
only changes that answer's body; parsing and every request that parses are uvicorn's, untouched.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from slipstream.api.http import PROBLEM_JSON, problem_body

MALFORMED_REQUEST = "Bad Request: the request is not valid HTTP/1.1, or its method is not one this server knows"


class JsonErrorHttpToolsProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        body = problem_body(400, MALFORMED_REQUEST)
        content = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: " + PROBLEM_JSON.encode() + b"\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"cache-control: no-store\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
