import pytest
from huey import RedisHuey

import mchis.ops.jobs

pytestmark = pytest.mark.django_db


def test_health_check_reports_database_and_job_queue(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert body["jobs"]["status"] == "ok" and body["jobs"]["pending"] >= 0


def test_health_check_sees_the_workers_heartbeat(client):
    from mchis.ops.tasks import worker_heartbeat

    worker_heartbeat.call_local()
    assert client.get("/healthz").json()["jobs"]["worker_seen_seconds_ago"] < 60


def test_unreachable_job_store_makes_the_check_fail(client, monkeypatch):
    # A real Redis client pointed at a port where nothing listens.
    monkeypatch.setattr(mchis.ops.jobs, "HUEY", RedisHuey("mchis-test", url="redis://127.0.0.1:1/0"))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["jobs"]["status"] == "error"
