from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.segments import runs
from app.segments.models import (
    Circle,
    ContactScore,
    ScoreRun,
    ScoringSettings,
    TierAssignment,
)
from tests.segments.helpers import small_network


def _scored(session: Session, manager: User, n: int = 30) -> list:
    people = small_network(session, manager, n=n)
    run = runs.start_run(session, manager)
    session.commit()
    runs.execute_run(session, run.id)
    session.commit()
    return people


def test_board_circle_and_contact_page_explain_the_tiers(
    client: FlaskClient, login, session: Session, users: dict[str, User]
) -> None:
    m = users["manager"]
    people = _scored(session, m, n=60)
    login(m)
    html = client.get("/tiers").get_data(as_text=True)
    assert "one-to-one" in html and m.name in html
    circle = session.scalar(select(Circle).where(Circle.active.is_(True)))
    assert circle is not None
    html = client.get(f"/circles/{circle.id}").get_data(as_text=True)
    assert circle.name in html
    top = session.scalar(select(TierAssignment).where(TierAssignment.tier == "one_to_one"))
    html = client.get(f"/contacts/{top.contact_id}").get_data(as_text=True)
    assert "Potential" in html and re.search(r"rank \d+ of 60", html)
    assert "<svg" in html  # component bars and the network
    assert re.search(r">[01]\.\d\d</text>", html)  # a component's value on its bar
    html = client.get(f"/contacts/{top.contact_id}?lang=it").get_data(as_text=True)
    assert re.search(r">[01],\d\d</text>", html) and not re.search(r">[01]\.\d\d</text>", html)
    first = session.scalar(select(ContactScore).where(ContactScore.rank == 1))
    html = client.get(f"/contacts/{first.contact_id}?lang=en").get_data(as_text=True)
    assert "rank 1 of 60 (top 1.7%)" in html  # 1.67% rounded up: never "top 0%"
    assert people


def test_run_button_enqueues_a_job_the_worker_finishes(
    client: FlaskClient, login, session: Session, users: dict[str, User], run_worker
) -> None:
    small_network(session, users["manager"], n=20)
    login(users["manager"])
    resp = client.post("/tiers/runs")
    assert resp.status_code == 302 and "/tiers/runs/" in resp.headers["Location"]
    assert "refresh" in client.get(resp.headers["Location"]).get_data(as_text=True)
    assert (
        client.post("/tiers/runs", follow_redirects=True)
        .get_data(as_text=True)
        .count("already in progress")
        == 1
    )
    assert run_worker() == 0
    session.rollback()  # end the read transaction begun before the worker committed
    assert session.scalar(select(ScoreRun.status)) == "done"


def test_salespeople_cannot_run_or_change_weights(
    client: FlaskClient, login, session: Session, users: dict[str, User]
) -> None:
    login(users["sales"])
    client.post("/tiers/runs")
    assert session.scalar(select(ScoreRun)) is None
    assert client.get("/tiers/settings").status_code == 403


def test_weights_form_refuses_all_zero_and_saves_good_values(
    client: FlaskClient, login, session: Session, users: dict[str, User]
) -> None:
    login(users["manager"])
    base = {"engagement_half_life_days": 90, "margin": 5, "one_to_few_share": 0.15,
            "circle_min": 5, "circle_max": 25}  # fmt: skip
    zero = dict.fromkeys(("influence", "bridging", "engagement", "account_value", "sentiment"), 0)
    resp = client.post("/tiers/settings", data={**base, **zero})
    assert resp.status_code == 422 and "above zero" in resp.get_data(as_text=True)
    assert session.get(ScoringSettings, 1) is None
    resp = client.post("/tiers/settings", data={**base, **zero, "engagement": 1})
    assert resp.status_code == 302
    assert session.get(ScoringSettings, 1).weights["engagement"] == 1


def test_pin_from_the_contact_page(
    client: FlaskClient, login, session: Session, users: dict[str, User]
) -> None:
    people = _scored(session, users["manager"], n=12)
    login(users["manager"])
    target = people[7]
    resp = client.post(f"/contacts/{target.id}/pin", data={"tier": "one_to_one", "reason": "CEO"})
    assert resp.status_code == 302
    row = session.get(TierAssignment, target.id)
    session.refresh(row)
    assert row.tier == "one_to_one" and row.pin_reason == "CEO"
    client.post(f"/contacts/{target.id}/pin", data={"unpin": "1"})
    session.refresh(row)
    assert row.pinned_by_id is None


def test_backtest_page(
    client: FlaskClient, login, session: Session, users: dict[str, User]
) -> None:
    _scored(session, users["manager"], n=20)
    login(users["manager"])
    assert "Run backtest" in client.get("/tiers/backtest").get_data(as_text=True)
    html = client.get("/tiers/backtest?at=2026-01-01&horizon=90&outcome=engaged").get_data(
        as_text=True
    )
    assert "ROC AUC" in html


def test_circle_basis_reads_in_the_users_language(app) -> None:  # type: ignore[no-untyped-def]
    from flask_babel import refresh

    from app.segments.views import circle_basis

    with app.test_request_context(headers={"Accept-Language": "it"}):
        refresh()  # the locale is cached in the (shared) app context
        assert circle_basis("industry: vino (7/12)") == "settore: vino (7 su 12)"
        assert circle_basis("organisation: Alfa Srl (5/9)") == "azienda: Alfa Srl (5 su 9)"
        assert circle_basis("mixed: vino · Torino") == "misto: vino · Torino"
        assert circle_basis("hand-made note") == "hand-made note" and circle_basis(None) == ""
    with app.test_request_context(headers={"Accept-Language": "en"}):
        refresh()
        assert circle_basis("city: Forlì (3/5)") == "city: Forlì (3 of 5)"


def test_a_manager_can_ask_a_run_to_form_the_circles_again(
    client: FlaskClient, login, session: Session, users: dict[str, User], run_worker
) -> None:
    small_network(session, users["manager"], n=20)
    login(users["manager"])
    assert 'id="reform-circles"' in client.get("/tiers").get_data(as_text=True)
    client.post("/tiers/runs", data={"reform_circles": "1"})
    assert run_worker() == 0
    client.post("/tiers/runs")
    assert run_worker() == 0
    session.rollback()
    runs_made = session.scalars(select(ScoreRun).order_by(ScoreRun.id)).all()
    assert [r.status for r in runs_made] == ["done", "done"]
    assert runs_made[0].params.get("reform_circles") is True
    assert "reform_circles" not in runs_made[1].params  # a one-off, not a setting
