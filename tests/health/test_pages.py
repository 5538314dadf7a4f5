"""The manager dashboard, "my relationships", the health pages: what each role sees."""

from __future__ import annotations

import re
from datetime import timedelta

from app.db import utcnow
from app.health import snapshots
from app.segments.models import Circle, TierAssignment
from tests.health.helpers import account, person, rhythm, touch


def _world(session, users):
    sales = users["sales"]
    key = account(session, sales, "Fading Spa")
    fine = account(session, sales, "Fine Srl")
    vip = person(session, sales, "Vip", org=key, tier="one_to_one")
    rhythm(session, vip, every_days=5, count=12, last_days_ago=60)
    ok = person(session, sales, "Okay", org=fine, tier="one_to_one")
    rhythm(session, ok, every_days=5, count=12, last_days_ago=1)
    quiet = person(session, sales, "Quiet", tier="one_to_few")
    rhythm(session, quiet, every_days=5, count=6, last_days_ago=50)
    circle = Circle(name="Export club", owner_id=sales.id, active=True)
    session.add(circle)
    session.flush()
    session.add(TierAssignment(contact_id=quiet.id, tier="one_to_few", circle_id=circle.id,
                               since=utcnow()))  # fmt: skip
    touch(session, ok, 1, direction="inbound", kind="comment", sentiment=-0.6, needs_answer=True,
          summary="Invoice is wrong")  # fmt: skip
    session.commit()
    snapshots.backfill(session, 28, 7)
    session.commit()
    return vip, ok, quiet, key


def test_the_manager_dashboard(client, session, users, login) -> None:
    vip, ok, _quiet, key = _world(session, users)
    login(users["manager"])
    resp = client.get("/health")
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    accounts = page[page.index('id="key-accounts"') : page.index('id="one-to-one-at-risk"')]
    assert "Fading Spa" in accounts and "Fine Srl" not in accounts
    assert "strongest relationship is fading" in accounts  # reasons in words
    assert "Vip Test" in page[page.index('id="one-to-one-at-risk"') :]
    assert "2 of 15 one-to-one" in page  # capacity used
    for chart in ("status", "score", "tiers", "potential"):
        assert f'id="chart-{chart}"' in page
        assert f"/health/charts/{chart}.csv" in page
    assert page.count("<svg") >= 4 and "<table" in page
    assert 'id="campaign-results"' in page and 'id="loyalty-liability"' in page
    assert "style=" not in page  # the CSP forbids inline styles

    csv = client.get("/health/charts/status.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    lines = csv.get_data(as_text=True).strip().splitlines()
    assert lines[0].startswith("Day,") and len(lines) == 1 + 5  # five weekly days
    assert re.match(r"\d{4}-\d{2}-\d{2},", lines[1])  # the CSV keeps ISO dates...
    italian = client.get("/health?lang=it").get_data(as_text=True)
    status = italian[italian.index('id="chart-status"') : italian.index('id="chart-score"')]
    assert re.search(r">\d{2}/\d{2}/\d{2}</text>", status)  # ...the axis reads 30/06/26
    client.get("/health?lang=en")
    assert client.get("/health/charts/nope.csv").status_code == 404

    person_page = client.get(f"/health/contacts/{vip.id}").get_data(as_text=True)
    assert "Silent for" in person_page and "<svg" in person_page
    assert client.get(f"/health/accounts/{key.id}").status_code == 200


def test_salespeople_get_their_day_not_the_dashboard(client, session, users, login) -> None:
    _world(session, users)
    login(users["sales"])
    assert client.get("/health").status_code == 403
    page = client.get("/my-day").get_data(as_text=True)
    call = page[page.index('id="call"') : page.index('id="circles"')]
    assert "Vip Test" in call and "Okay Test" not in call
    assert "Invoice is wrong" in page[page.index('id="answer"') : page.index('id="call"')]
    assert "Export club" in page[page.index('id="circles"') :]
    # Another salesperson sees none of it.
    client.post("/logout")
    login(users["sales2"])
    other = client.get("/my-day").get_data(as_text=True)
    assert "Vip Test" not in other and "Invoice is wrong" not in other


def test_pages_work_before_any_health_was_computed(client, session, users, login) -> None:
    login(users["admin"])
    assert client.get("/health").status_code == 200
    assert client.get("/inbox").status_code == 200
    assert client.get("/my-day").status_code == 200
    assert client.get("/inbox/new").status_code == 200
    assert client.get("/inbox/import").status_code == 200


def test_health_over_the_api(client, session, users) -> None:
    from app.auth.service import API_SCOPES, create_api_token

    vip, *_ = _world(session, users)
    _, secret = create_api_token(session, users["sales2"], "t", list(API_SCOPES))
    _, mine = create_api_token(session, users["sales"], "t", list(API_SCOPES))
    session.commit()
    resp = client.get(f"/api/v1/contacts/{vip.id}/health",
                      headers={"Authorization": f"Bearer {mine}"})  # fmt: skip
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "at_risk" and body["reasons"][0]["code"] == "silent_at_risk"
    resp = client.get(f"/api/v1/contacts/{vip.id}/health",
                      headers={"Authorization": f"Bearer {secret}"})  # fmt: skip
    assert resp.status_code == 403
    assert (utcnow() - timedelta(days=1)).date() < utcnow().date() + timedelta(days=1)


def test_potential_trend_comes_from_the_scoring_run_in_force(client, session, users, login) -> None:
    from app.segments.models import ContactScore, ScoreRun

    vip = person(session, users["sales"], "Vip", tier="one_to_one")
    crowd = person(session, users["sales"], "Crowd", tier="broadcast")
    rhythm(session, vip, every_days=5, count=10, last_days_ago=1)
    rhythm(session, crowd, every_days=5, count=10, last_days_ago=1)
    run = ScoreRun(status="done", as_of=utcnow() - timedelta(days=10), finished_at=utcnow())
    session.add(run)
    session.flush()
    for contact, potential in ((vip, 80.0), (crowd, 20.0)):
        session.add(ContactScore(run_id=run.id, contact_id=contact.id, potential=potential,
                                 influence=0, bridging=0, engagement=0, account_value=0,
                                 sentiment=0, rank=1))  # fmt: skip
    session.commit()
    snapshots.backfill(session, 21, 7)
    session.commit()
    login(users["manager"])
    lines = client.get("/health/charts/potential.csv").get_data(as_text=True).splitlines()
    # Two weekly runs after the scoring run, none before it; everyone 50, one-to-one 80.
    assert [line.split(",")[2] for line in lines[1:]] == ["50.0", "50.0", "80.0", "80.0"]


def test_the_potential_trend_waits_for_a_second_day(client, session, users, login) -> None:
    _world(session, users)
    from sqlalchemy import select

    from app.health.models import HealthRun

    runs = session.scalars(select(HealthRun).order_by(HealthRun.as_of)).all()
    login(users["manager"])

    def potential_chart() -> str:
        page = client.get("/health").get_data(as_text=True)
        return page[page.index('id="chart-potential"') :][:3000]

    assert "No scoring run yet" in potential_chart()
    runs[-1].stats = {**runs[-1].stats, "potential": {"avg": 52.0, "one_to_one_avg": 81.0}}
    runs[-1].finished_at = utcnow()  # as a new run would (the charts are cached per run)
    session.commit()
    assert "appears from the second day" in potential_chart()  # one dot is not a trend
    runs[-2].stats = {**runs[-2].stats, "potential": {"avg": 50.0, "one_to_one_avg": 79.0}}
    runs[-1].finished_at = utcnow() + timedelta(seconds=1)
    session.commit()
    chart = potential_chart()
    assert "appears from the second day" not in chart and "<polyline" in chart
