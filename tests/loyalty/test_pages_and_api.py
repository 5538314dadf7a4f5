"""What a marketer does in the UI and a shop does over the API."""

from __future__ import annotations

from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.service import API_SCOPES, create_api_token
from app.contacts import service as contacts
from app.db import utcnow
from app.loyalty import ledger, programmes
from app.loyalty.models import LedgerEntry, Membership, Programme, Redemption
from app.loyalty.statements import loyalty_panel
from tests.loyalty.helpers import member, person, programme


def api_headers(session: Session, user) -> dict[str, str]:
    _, secret = create_api_token(session, user, "shop", list(API_SCOPES))
    session.commit()
    return {"Authorization": f"Bearer {secret}"}


def test_marketer_sets_up_a_programme_and_redeems_in_the_ui(
    session: Session, users, login, client: FlaskClient
) -> None:
    login(users["marketer"])
    resp = client.post(
        "/loyalty/new",
        data={
            "name": "Amici", "eligibility": "consent", "enrolment": "manual",
            "expiry_days": "365", "tier_window_days": "365", "tier_grace_days": "30",
            "referral_bonus_points": "0", "cents_per_100_points": "50",
        },
    )  # fmt: skip
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    prog = session.scalars(select(Programme)).one()
    base = f"/loyalty/{prog.id}"
    assert (
        client.post(
            f"{base}/tier", data={"tier-name": "Gold", "tier-threshold_points": "100"}
        ).status_code
        == 302
    )
    client.post(
        f"{base}/rule",
        data={
            "rule-kind": "purchase",
            "rule-points": "1",
            "rule-per_cents": "100",
            "rule-interaction_kind": "",
        },
    )
    client.post(
        f"{base}/reward",
        data={
            "reward-name": "Mug",
            "reward-points_cost": "30",
            "reward-stock": "5",
            "reward-min_tier_id": "",
        },
    )
    page = client.get(f"{base}/settings").get_data(as_text=True)
    assert "Gold" in page and "Mug" in page
    contact = person(session, users["admin"])
    client.post(f"{base}/members", data={"one-contact": contact.email})
    membership = session.scalars(select(Membership)).one()
    contacts.log_interaction(
        session, users["admin"], [contact], channel="shop", direction="inbound",
        kind="purchase", occurred_at=utcnow() - timedelta(hours=1), value_cents=150_00,
    )  # fmt: skip
    session.commit()
    from app.loyalty.earning import sync_purchases

    sync_purchases(session)
    session.commit()
    resp = client.post(
        f"/loyalty/members/{membership.id}/redeem",
        data={"redeem-reward_id": str(prog.rewards[0].id)},
    )
    assert resp.status_code == 302
    redemption = session.scalars(select(Redemption)).one()
    page = client.get(f"/loyalty/members/{membership.id}").get_data(as_text=True)
    assert redemption.code in page and "120" in page and "Gold" in page
    dash = client.get(base).get_data(as_text=True)
    assert "Outstanding liability" in dash
    assert client.get("/loyalty/").status_code == 200
    # The adjustment needs a reason.
    client.post(
        f"/loyalty/members/{membership.id}/adjust", data={"adjust-points": "5", "adjust-reason": ""}
    )
    assert ledger.balance(session, membership.id) == 120
    client.post(f"/loyalty/redemptions/{redemption.id}/cancel")
    assert ledger.balance(session, membership.id) == 150


def test_sales_cannot_change_settings(session: Session, users, login, client) -> None:
    prog = programme(session, users["admin"])
    session.commit()
    login(users["sales"])
    assert client.get(f"/loyalty/{prog.id}/settings").status_code == 403
    assert client.get(f"/loyalty/{prog.id}").status_code == 200


def test_contact_panel(session: Session, users) -> None:
    prog = programme(session, users["admin"])
    m = member(session, users["admin"], prog)
    panel = loyalty_panel(session, users["marketer"], m.contact)
    assert panel["memberships"][0]["programme"] == prog.name
    assert panel["memberships"][0]["balance"] == 0


def test_api_enrol_earn_redeem_statement(session: Session, users, client: FlaskClient) -> None:
    actor = users["manager"]
    prog = programme(session, actor)
    reward = programmes.add_reward(session, actor, prog, name="Mug", points_cost=50, stock=1)
    contact = person(session, actor)
    headers = api_headers(session, actor)
    url = f"/api/v1/loyalty/programmes/{prog.id}"
    resp = client.post(f"{url}/members", json={"email": contact.email}, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    assert (
        client.post(f"{url}/members", json={"contact_id": contact.id}, headers=headers).status_code
        == 200
    )
    body = {"email": contact.email, "event_id": "order-1", "value_cents": 120_99}
    first = client.post(f"{url}/earn", json=body, headers=headers)
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["points"] == 120 and first.get_json()["tier"] == "Silver"
    again = client.post(f"{url}/earn", json=body, headers=headers).get_json()
    assert again["duplicate"] is True and again["balance"] == 120
    assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 1
    red = client.post(
        f"{url}/redemptions",
        json={"contact_id": contact.id, "reward_id": reward.id},
        headers=headers,
    )
    assert red.status_code == 201 and red.get_json()["balance"] == 70
    out = client.post(
        f"{url}/redemptions",
        json={"contact_id": contact.id, "reward_id": reward.id},
        headers=headers,
    )
    assert out.status_code == 422 and "stock" in out.get_json()["detail"]
    st = client.get(f"{url}/members/{contact.id}/statement", headers=headers).get_json()
    assert st["balance"] == 70 and [e["kind"] for e in st["history"]] == ["redeem", "earn"]
    assert st["expiring"][0]["points"] == 70


def test_api_bad_input_writes_nothing(session: Session, users, client: FlaskClient) -> None:
    actor = users["manager"]
    prog = programme(session, actor)
    m = member(session, actor, prog)
    headers = api_headers(session, actor)
    url = f"/api/v1/loyalty/programmes/{prog.id}"
    neg = client.post(
        f"{url}/earn",
        json={"contact_id": m.contact_id, "event_id": "x", "value_cents": -1},
        headers=headers,
    )
    assert neg.status_code == 422
    unknown = client.post(
        f"{url}/earn",
        json={"email": "nobody@example.com", "event_id": "y", "value_cents": 100},
        headers=headers,
    )
    assert unknown.status_code == 404
    session.get(Membership, m.id).contact.erased_at = utcnow()
    session.commit()
    erased = client.post(
        f"{url}/earn",
        json={"contact_id": m.contact_id, "event_id": "z", "value_cents": 100},
        headers=headers,
    )
    assert erased.status_code == 422
    assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 0


def test_openapi_documents_loyalty(client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    paths = [p for p in doc["paths"] if "/loyalty/" in p]
    assert len(paths) == 4
    assert "EarnIn" in doc["components"]["schemas"]
