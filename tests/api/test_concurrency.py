"""Two requests at once (PostgreSQL: real concurrent transactions).

Identical idempotent POSTs create one record: the second waits at the claim until the first
commits and then replays its answer. Two updates based on the same version: the second waits
for the row lock, then finds the version moved and is refused 412. (On SQLite every write
transaction holds the database's write lock from BEGIN, which serialises them the same way.)
"""

import threading
import time
import uuid

import pytest
from django.db import connection

from mchis.api.models import ApiClient
from mchis.audit.models import AuditEvent
from tests.api.conftest import Bearer
from tests.api.test_persons import PERSONS, new_woman

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent writers (PostgreSQL)"),
    pytest.mark.django_db(transaction=True),
]


def in_thread(fn, results: list):
    def run():
        try:
            results.append(fn())
        except BaseException as exc:  # reported by the test
            results.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def twin(system: Bearer) -> Bearer:
    """Another HTTP client with the same credential (test clients are not shared by threads)."""
    return Bearer(system.authorization, client_id=system.client_id)


def slowed(monkeypatch, target: str, attribute: str, entered: threading.Event, hold: float = 0.5):
    """Make the first call of target.attribute signal `entered`, then hold its transaction open."""
    import importlib

    module = importlib.import_module(target)
    original = getattr(module, attribute)
    first = threading.Lock()

    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        if first.acquire(blocking=False):
            entered.set()
            time.sleep(hold)
        return result

    monkeypatch.setattr(module, attribute, wrapper)


def test_identical_idempotent_posts_at_once_create_one_person(thc1_system, actors, monkeypatch):
    entered = threading.Event()
    slowed(monkeypatch, "mchis.people.api", "person_register", entered)
    body, key = new_woman(actors), {"Idempotency-Key": str(uuid.uuid4())}
    first, second = [], []
    a = in_thread(lambda: twin(thc1_system).post(PERSONS, body, headers=key), first)
    assert entered.wait(10)
    b = in_thread(lambda: twin(thc1_system).post(PERSONS, body, headers=key), second)
    a.join(20)
    b.join(20)
    (one,), (two,) = first, second
    assert one.status_code == two.status_code == 201, (one.content, two.content)
    assert "Idempotent-Replayed" not in one and two["Idempotent-Replayed"] == "true"
    assert one.content == two.content
    user = ApiClient.objects.get(pk=thc1_system.client_id).user
    assert AuditEvent.objects.filter(actor_id=user.pk, action="create", object_type="people.person").count() == 1


def test_two_updates_based_on_one_version_one_wins_the_other_gets_412(thc1_system, actors, monkeypatch):
    woman = thc1_system.post(PERSONS, new_woman(actors)).json()
    url = f"{PERSONS}{woman['id']}/"
    entered = threading.Event()
    slowed(monkeypatch, "mchis.people.services", "_person_update", entered)
    first, second = [], []
    a = in_thread(lambda: twin(thc1_system).patch(url, {"phone": "13800001111"}, headers={"If-Match": '"1"'}), first)
    assert entered.wait(10)
    b = in_thread(lambda: twin(thc1_system).patch(url, {"phone": "13800002222"}, headers={"If-Match": '"1"'}), second)
    a.join(20)
    b.join(20)
    (one,), (two,) = first, second
    assert (one.status_code, two.status_code) == (200, 412), (one.content, two.content)
    now = thc1_system.get(url).json()
    assert now["phone"] == "13800001111" and now["version"] == 2
