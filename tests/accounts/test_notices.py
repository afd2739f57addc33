"""In-app notices: the one channel to a user on an air-gapped site (P4, P9, P28 use it)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mchis.accounts.models import Notice, User
from mchis.accounts.notices import notice_list, notice_mark_read, notice_send, notice_unread_count

pytestmark = pytest.mark.django_db


@pytest.fixture
def users(demo):
    return {u.username: u for u in User.objects.all()}


def send(user, n=1, title="通知"):
    for i in range(n):
        notice_send(recipients=[user], kind="test", title=f"{title}{i}", body="正文")


def test_unread_first_then_newest(users):
    me = users["clinician.thc1"]
    send(me, 3)
    first = Notice.objects.get(title="通知0")
    notice_mark_read(user=me, notice_id=Notice.objects.get(title="通知2").pk)
    titles = [n.title for n in notice_list(user=me)]
    assert titles[-1] == "通知2" and set(titles[:2]) == {"通知0", "通知1"}
    assert first.read_at is None and notice_unread_count(user=me) == 2


def test_the_badge_counts_unread_notices(login, users):
    client = login("clinician.thc1")
    send(users["clinician.thc1"], 2)
    html = client.get("/").content.decode()
    assert "badge rounded-pill text-bg-warning" in html and ">2</span>" in html
    notice_mark_read(user=users["clinician.thc1"])
    assert "badge rounded-pill" not in client.get("/").content.decode()


def test_the_badge_costs_one_query(login, users):
    client = login("clinician.thc1")
    send(users["clinician.thc1"], 1)
    with CaptureQueriesContext(connection) as ctx:
        client.get("/")
    assert len([q for q in ctx.captured_queries if "accounts_notice" in q["sql"]]) == 1


def test_the_page_lists_and_marks_read(login, users):
    me = users["clinician.thc1"]
    client = login("clinician.thc1")
    send(me, 2)
    page = client.get("/accounts/notices/")
    assert page.status_code == 200 and "通知0" in page.content.decode()
    one = Notice.objects.get(title="通知1")
    assert client.post(f"/accounts/notices/{one.pk}/read/").status_code == 302
    one.refresh_from_db()
    assert one.read_at is not None
    assert client.post("/accounts/notices/read-all/").status_code == 302
    assert notice_unread_count(user=me) == 0


def test_the_page_is_paged(login, users):
    client = login("clinician.thc1")
    send(users["clinician.thc1"], 25)
    first = client.get("/accounts/notices/")
    assert len(first.context["page"].object_list) == 20 and first.context["page"].paginator.num_pages == 2
    assert len(client.get("/accounts/notices/?page=2").context["page"].object_list) == 5


def test_nobody_reads_or_marks_anothers_notices(login, users):
    send(users["clinician.thc2"], 1, title="别人的通知")
    theirs = Notice.objects.get(recipient=users["clinician.thc2"])
    client = login("clinician.thc1")
    assert "别人的通知" not in client.get("/accounts/notices/").content.decode()
    client.post(f"/accounts/notices/{theirs.pk}/read/")
    client.post("/accounts/notices/read-all/")
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_signed_out_visitors_are_sent_to_log_in(demo, client):
    response = client.get("/accounts/notices/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
