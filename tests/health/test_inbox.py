"""The attention inbox: comments from the API (matched or kept as unmatched), negative first,
one click to log an answer, dismissal only with a reason; and the bad inputs of the issue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.auth.service import API_SCOPES, create_api_token
from app.contacts.models import Interaction, interaction_participants
from app.contacts.privacy import erase_contact
from app.db import utcnow
from app.health import inbox
from app.health.models import InboxDismissal, UnmatchedComment
from tests.health.helpers import person, touch


def _api(client, session, user):
    _, secret = create_api_token(session, user, "social", list(API_SCOPES))
    session.commit()
    headers = {"Authorization": f"Bearer {secret}"}

    def post(body):
        return client.post("/api/v1/inbox/comments", json=body, headers=headers)

    def get(path, **params):
        return client.get(f"/api/v1{path}", query_string=params, headers=headers)

    return post, get


def _iso(hours_ago: float) -> str:
    return (utcnow() - timedelta(hours=hours_ago)).isoformat()


def test_a_comment_from_an_unknown_person_is_kept_as_unmatched_then_matched(
    client, session, users, login
) -> None:
    post, _get = _api(client, session, users["admin"])
    resp = post({"author": "@stranger_1", "author_name": "A Stranger", "channel": "x",
                 "occurred_at": _iso(5), "text": "Who answers here?", "sentiment": -0.6,
                 "external_id": "x-1"})  # fmt: skip
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["matched"] is False and body["unmatched_id"]
    # Posting it again: kept once.
    again = post({"author": "@stranger_1", "channel": "x", "occurred_at": _iso(5),
                  "external_id": "x-1"})  # fmt: skip
    assert again.status_code == 200 and again.get_json()["unmatched_id"] == body["unmatched_id"]
    assert session.scalar(select(func.count()).select_from(UnmatchedComment)) == 1

    login(users["sales"])
    page = client.get("/inbox").get_data(as_text=True)
    assert "Who answers here?" in page and "A Stranger" in page

    # Later the person becomes known and the comment is matched to them.
    known = person(session, users["sales"], "Stranger", x_handle="@stranger_1")
    session.commit()
    resp = client.post(f"/inbox/unmatched/{body['unmatched_id']}/match",
                       data={"person": "@stranger_1"})  # fmt: skip
    assert resp.status_code == 302
    comment = session.get(UnmatchedComment, body["unmatched_id"])
    assert comment.matched_interaction_id is not None
    assert comment.author_key is None and comment.text is None  # now lives with the person
    interaction = session.get(Interaction, comment.matched_interaction_id)
    assert interaction.needs_answer and interaction.summary == "Who answers here?"
    assert [p.id for p in interaction.participants] == [known.id]
    # Matching twice is a conflict.
    resp = client.post(f"/inbox/unmatched/{body['unmatched_id']}/match",
                       data={"person": "@stranger_1"})  # fmt: skip
    assert resp.status_code == 409


def test_known_authors_land_in_the_inbox_negative_first(client, session, users, login) -> None:
    anna = person(session, users["sales"], "Anna")
    bruno = person(session, users["sales2"], "Bruno")
    session.commit()
    post, get = _api(client, session, users["admin"])
    for author, text, sentiment, hours in (
        ("anna@example.com", "Nice post", 0.7, 100),
        ("bruno@example.com", "Terrible service", -0.8, 2),
        ("anna@example.com", "Still waiting for the refund", -0.4, 1),
        ("anna@example.com", "A question", None, 200),
    ):
        resp = post({"author": author, "channel": "linkedin", "occurred_at": _iso(hours),
                     "text": text, "sentiment": sentiment})  # fmt: skip
        assert resp.status_code == 201 and resp.get_json()["matched"] is True

    items = get("/inbox").get_json()["items"]
    assert [i["summary"] for i in items] == [
        "Terrible service", "Still waiting for the refund", "Nice post", "A question",
    ]  # fmt: skip
    assert items[-1]["overdue"] is True and items[1]["overdue"] is False

    # Salespeople see their own people's messages only, with age against the target.
    login(users["sales"])
    page = client.get("/inbox").get_data(as_text=True)
    assert "Still waiting for the refund" in page and "Terrible service" not in page
    assert page.index("Still waiting") < page.index("Nice post")
    assert anna.id and bruno.id


def test_an_answer_logged_twice_is_a_conflict_and_writes_once(
    client, session, users, login
) -> None:
    anna = person(session, users["sales"], "Anna")
    item = touch(session, anna, 1, direction="inbound", kind="comment", sentiment=-0.5,
                 needs_answer=True, summary="Where is my order?")  # fmt: skip
    session.commit()
    login(users["sales"])
    first = client.post(f"/inbox/{item.id}/answer", data={"note": "Shipped today"})
    assert first.status_code == 302
    second = client.post(f"/inbox/{item.id}/answer", data={"note": "Shipped today"})
    assert second.status_code == 409
    session.expire_all()
    assert session.get(Interaction, item.id).answered_at is not None
    replies = session.scalars(
        select(Interaction)
        .join(interaction_participants)
        .where(interaction_participants.c.contact_id == anna.id, Interaction.kind == "reply")
    ).all()
    assert [r.summary for r in replies] == ["Shipped today"]
    assert "Where is my order?" not in client.get("/inbox").get_data(as_text=True)


def test_dismissal_needs_a_reason_that_is_kept(client, session, users, login) -> None:
    anna = person(session, users["sales"], "Anna")
    item = touch(session, anna, 1, direction="inbound", kind="mention", needs_answer=True,
                 summary="Spam mention")  # fmt: skip
    session.commit()
    login(users["sales"])
    resp = client.post(f"/inbox/{item.id}/dismiss", data={"reason": ""})
    assert resp.status_code == 422
    assert "Spam mention" in client.get("/inbox").get_data(as_text=True)
    resp = client.post(f"/inbox/{item.id}/dismiss", data={"reason": "Automated spam account"})
    assert resp.status_code == 302
    dismissal = session.scalar(select(InboxDismissal))
    assert dismissal.reason == "Automated spam account"
    assert dismissal.dismissed_by_id == users["sales"].id
    assert "Spam mention" not in client.get("/inbox").get_data(as_text=True)
    # Another owner's item cannot be dismissed by a salesperson.
    other = person(session, users["sales2"], "Other")
    theirs = touch(session, other, 1, direction="inbound", needs_answer=True)
    session.commit()
    assert (
        client.post(f"/inbox/{theirs.id}/dismiss", data={"reason": "not mine"}).status_code == 403
    )


def test_an_interaction_dated_in_the_future_is_refused(client, session, users, login) -> None:
    person(session, users["sales"], "Anna")
    session.commit()
    post, _get = _api(client, session, users["admin"])
    future = (utcnow() + timedelta(days=2)).isoformat()
    resp = post({"author": "anna@example.com", "channel": "email", "occurred_at": future})
    assert resp.status_code == 422
    assert resp.get_json()["field"] == "occurred_at"
    login(users["sales"])
    resp = client.post("/inbox/new", data={
        "person": "anna@example.com", "channel": "email", "kind": "message",
        "occurred_at": (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
        "text": "From the future",
    })  # fmt: skip
    assert resp.status_code == 422
    assert "dated in the future" in resp.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Interaction)) == 0
    # A date in the past is logged and waits in the inbox.
    resp = client.post("/inbox/new", data={
        "person": "anna@example.com", "channel": "phone", "kind": "message",
        "occurred_at": (datetime.now(UTC) - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"),
        "text": "Call me back", "sentiment": "-0.5",
    })  # fmt: skip
    assert resp.status_code == 302
    assert "Call me back" in client.get("/inbox").get_data(as_text=True)


def test_a_person_erased_while_in_the_inbox_stays_without_personal_data(
    client, session, users, login
) -> None:
    anna = person(session, users["sales"], "Annabella", phone="+39 333 1234567")
    item = touch(session, anna, 1, direction="inbound", kind="comment", sentiment=-0.7,
                 needs_answer=True, summary="My address is Via Roma 1")  # fmt: skip
    session.commit()
    erase_contact(session, users["manager"], anna, "their request")
    session.commit()
    login(users["sales"])
    page = client.get("/inbox").get_data(as_text=True)
    assert f'data-interaction="{item.id}"' in page
    assert "erased person" in page
    for personal in ("Annabella", "annabella@example.com", "Via Roma", "333 1234567"):
        assert personal not in page
    # It can still be answered; no reply is logged for an erased person.
    assert client.post(f"/inbox/{item.id}/answer", data={}).status_code == 302
    session.expire_all()
    assert session.get(Interaction, item.id).answered_at is not None
    assert session.scalar(select(func.count()).select_from(Interaction)) == 1


def test_comments_import_from_csv(session, users) -> None:
    person(session, users["sales"], "Anna")
    session.commit()
    now = datetime.now(UTC)
    past, future = (now - timedelta(hours=2)).isoformat(), (now + timedelta(days=5)).isoformat()
    csv_text = (
        "author,author_name,channel,kind,occurred_at,sentiment,text,external_id\n"
        f"anna@example.com,Anna,facebook,comment,{past},-0.5,Bad,f1\n"
        f"nobody@example.com,Nobody,facebook,comment,{past},,Hm,f2\n"
        f"anna@example.com,Anna,facebook,comment,{future},,Later,f3\n"
        "anna@example.com,Anna,facebook,comment,yesterday,,??,f4\n"
    )
    report = inbox.import_comments_csv(session, csv_text)
    session.commit()
    assert (report["matched"], report["unmatched"], len(report["rejected"])) == (1, 1, 2)
    assert {r["line"] for r in report["rejected"]} == {4, 5}
    again = inbox.import_comments_csv(session, csv_text)
    assert again["repeated"] == 2 and again["matched"] == again["unmatched"] == 0
