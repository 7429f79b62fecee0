"""DB_POOL_SIZE: one Postgres pool per server process shared by its threads. Connections stay bounded under a burst
larger than the pool (requests wait for a free connection instead of failing), and connections terminated while
idle in the pool are replaced (checked before they are lent)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.reliability.conftest import HubServer, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
POOL = 2  # per process; the server has 2 processes × 8 threads


@pytest.fixture
def pooled_server(transactional_db, tmp_path):
    server = HubServer(tmp_path / "web.log")
    server.env.update(DB_POOL_SIZE=str(POOL), DB_CONN_MAX_AGE="0")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.fault("f")
def test_a_burst_beyond_the_pool_waits_for_connections_and_stays_bounded(pooled_server, alice, make_repo):
    repo = make_repo(alice, "pooled", files={"README.md": b"# pooled\n"})
    url = f"{pooled_server.url}/api/models/{repo.full_name}"
    peak = 0

    def get(_i: int) -> int:
        return requests.get(url, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=32) as pool:
        futures = [pool.submit(get, i) for i in range(96)]
        while not all(f.done() for f in futures):
            peak = max(peak, len(pooled_server.backends()))
        statuses = [f.result() for f in futures]
    assert set(statuses) == {200}, statuses
    assert 0 < peak <= 2 * POOL, f"{peak} backends for 2 processes with pools of {POOL}"


@pytest.mark.fault("f")
def test_pooled_connections_terminated_while_idle_are_replaced(pooled_server, alice, make_repo):
    repo = make_repo(alice, "pooled-drop", files={"README.md": b"# pooled\n"})
    url = f"{pooled_server.url}/api/models/{repo.full_name}"
    session = requests.Session()
    for _ in range(8):
        assert session.get(url, timeout=30).status_code == 200
    killed = pooled_server.terminate_backends()
    assert killed, "the pool holds no connection"
    wait_for(lambda: not set(killed) & set(pooled_server.backends()), timeout=30, what="the backends to end")
    statuses = [session.get(url, timeout=30).status_code for _ in range(16)]
    assert set(statuses) == {200}, statuses
