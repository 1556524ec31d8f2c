"""The yardstick for bench/api_send.py: Starlette + uvicorn (uvloop, httptools) whose handler
parses the JSON body and answers a fresh id, doing nothing else.

    python bench/noop_api.py PORT [PROCESSES]
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def send(request: Request) -> JSONResponse:
    json.loads(await request.body())
    return JSONResponse({"MessageID": str(uuid.uuid4())})


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route("/api/v1/email", send, methods=["POST"]), Route("/healthz", healthz)])

if __name__ == "__main__":
    port, processes = int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1
    here = str(Path(__file__).parent)
    uvicorn.run("noop_api:app", host="127.0.0.1", port=port, workers=processes,
                log_level="warning", app_dir=here)  # fmt: skip
