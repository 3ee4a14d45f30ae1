"""The servers the API benchmark measures, each run in its own process:

    python -m bench._servers slipstream --workers 1   # the real app, through slipstream.cli.api.serve
    python -m bench._servers bare --workers 1         # a bare Starlette endpoint, same uvicorn settings

Both read SLIPSTREAM_* from the environment. The bare server goes through the same `serve()` with
only the application swapped, so host, port, workers, loop, HTTP parser and logging are identical.
"""

from __future__ import annotations

import argparse
import warnings

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# Connexion imports Starlette's test client, which warns about httpx (as in slipstream/api/app.py).
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
BARE_APP = "bench._servers:create_bare_app"
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


async def bare_test(_request: Request) -> Response:
    return Response(orjson.dumps({"status": "OK"}, option=_OPTIONS), media_type="application/json")


def create_bare_app() -> Starlette:
    """What GET /api/experimental/test would cost with nothing but Starlette under it."""
    return Starlette(routes=[Route("/api/experimental/test", bare_test)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("app", choices=["slipstream", "bare"])
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)

    from slipstream.cli import api
    from slipstream.config import Settings

    if args.app == "bare":
        real_run = api.uvicorn.run

        def run_bare(_app: str, **kwargs) -> None:
            real_run(BARE_APP, **kwargs)

        api.uvicorn.run = run_bare
    api.serve(Settings.from_env(), args.workers)


if __name__ == "__main__":
    main()
