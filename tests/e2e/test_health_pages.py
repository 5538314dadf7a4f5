"""The manager dashboard and the attention inbox in a real headless Chromium (CSRF on)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.contacts.models import Interaction
from app.health import snapshots
from app.health.models import InboxDismissal
from tests.e2e.conftest import ARTIFACTS
from tests.health.helpers import account, person, rhythm, touch

pytestmark = pytest.mark.e2e

SignIn = Callable[[User], Page]
Shot = Callable[[str], None]


def _world(session: Session, users: dict[str, User]) -> dict[str, int]:
    sales = users["sales"]
    key = account(session, sales, "Fading Spa")
    vip = person(session, sales, "Vip", org=key, tier="one_to_one")
    rhythm(session, vip, every_days=5, count=12, last_days_ago=60)
    ok = person(session, sales, "Okay", tier="one_to_one")
    rhythm(session, ok, every_days=5, count=12, last_days_ago=1)
    angry = touch(session, ok, 3, direction="inbound", kind="comment", sentiment=-0.8,
                  needs_answer=True, summary="The invoice is wrong again")  # fmt: skip
    happy = touch(session, ok, 5, direction="inbound", kind="comment", sentiment=0.6,
                  needs_answer=True, summary="Great webinar")  # fmt: skip
    session.commit()
    snapshots.backfill(session, 35, 7)
    session.commit()
    return {"angry": angry.id, "happy": happy.id}


def test_manager_dashboard(
    web: Page, sign_in: SignIn, screenshot: Shot, session: Session, users: dict[str, User]
) -> None:
    _world(session, users)
    sign_in(users["manager"])
    web.goto("/health")
    expect(web.get_by_role("heading", name="Relationship health")).to_be_visible()
    accounts = web.locator("#key-accounts")
    expect(accounts).to_contain_text("Fading Spa")
    expect(accounts).to_contain_text("strongest relationship is fading")
    expect(web.locator("#one-to-one-at-risk")).to_contain_text("Vip Test")
    expect(web.locator("#chart-status svg")).to_be_visible()
    web.locator("#chart-status summary").click()
    expect(web.locator("#chart-status table tbody tr")).to_have_count(6)
    with web.expect_download() as download:
        web.locator("#chart-status a[download]").click()
    assert download.value.suggested_filename == "health-status.csv"
    screenshot("health-dashboard")
    assert (ARTIFACTS / "health-dashboard.png").stat().st_size > 10_000


def test_inbox_negative_first_answer_and_dismiss(
    web: Page, sign_in: SignIn, screenshot: Shot, session: Session, users: dict[str, User]
) -> None:
    ids = _world(session, users)
    sign_in(users["sales"])
    web.goto("/inbox")
    items = web.locator("li.hl-item")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text("The invoice is wrong again")
    expect(items.first).to_contain_text("negative")
    expect(items.first).to_contain_text("past the target")
    screenshot("health-inbox")

    angry = web.locator(f'li[data-interaction="{ids["angry"]}"]')
    angry.get_by_placeholder("What we answered (optional)").fill("Sent a corrected invoice")
    angry.get_by_role("button", name="Answered").click()
    expect(web.get_by_role("status")).to_contain_text("Answer logged.")
    expect(web.locator("li.hl-item")).to_have_count(1)

    happy = web.locator(f'li[data-interaction="{ids["happy"]}"]')
    happy.get_by_placeholder("Why it needs no answer").fill("A thank-you, nothing to answer")
    happy.get_by_role("button", name="Dismiss").click()
    expect(web.get_by_role("status")).to_contain_text("the reason is kept")
    expect(web.locator("li.hl-item")).to_have_count(0)

    session.rollback()
    assert session.get(Interaction, ids["angry"]).answered_at is not None
    dismissal = session.scalar(select(InboxDismissal))
    assert dismissal.reason == "A thank-you, nothing to answer"
