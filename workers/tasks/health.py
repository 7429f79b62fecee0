"""Health task: proves the round trip web → broker → worker → result backend."""

from __future__ import annotations

import os
import socket
import time

from hub.celery import app


@app.task(name="workers.health.ping")
def ping(payload: str = "ping") -> dict:
    return {"pong": payload, "worker": socket.gethostname(), "pid": os.getpid(), "time": time.time()}
