"""A marketer's main flow in a real browser: a segment built from rules, a promotion to
it, the launch, a real RQ worker sending through a real SMTP server, the results."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from app.auth.models import User
from app.contacts import service

pytestmark = pytest.mark.e2e


def test_segment_then_promotion_launched_and_sent(
    web: Page,
    sign_in: Callable[[User], Page],
    session: Session,
    users: dict[str, User],
    run_worker: Callable[[], int],
    smtp_sink: object,
) -> None:
    owner = users["manager"]
    for i, consent in enumerate(("granted", "granted", "granted", "opted_out")):
        service.create_contact(
            session, owner, first_name=f"Vip{i}", last_name="Rossi",
            email=f"vip{i}@example.org", tags="vip", consent_status=consent,
            consent_basis="consent",
        )  # fmt: skip
    service.create_contact(session, owner, first_name="Plain", last_name="Bianchi",
                           email="plain@example.org", consent_status="granted",
                           consent_basis="consent")  # fmt: skip
    session.commit()
    page = sign_in(users["marketer"])

    # A segment from one rule, previewed (live count), then saved.
    page.get_by_role("link", name="Segments").click()
    expect(page.get_by_role("link", name="Segments")).to_have_attribute("aria-current", "page")
    page.get_by_role("link", name="New segment").click()
    page.get_by_label("Name").fill("VIP clients")
    page.locator(".rule-field").first.select_option("tags")
    page.locator(".rule-operator").first.select_option("has_tag")
    page.get_by_label("Value").first.fill("vip")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview-count")).to_have_text("4")  # the opted-out one too
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="VIP clients")).to_be_visible()

    # A promotion to that segment, with a code per person.
    page.goto("/campaigns/new?kind=promotion")
    page.get_by_label("Name").fill("Spring offer")
    page.get_by_label("Audience").select_option("segment")
    page.get_by_label("Segment").select_option(label="VIP clients")
    page.get_by_label("Default language").select_option("en")
    page.get_by_label("Subject").first.fill("{{ first_name }}, spring is here")
    page.get_by_label("Message").first.fill(
        "Dear {{ first_name }}, your code is {{ promo_code }}.\n{{ unsubscribe_link }}"
    )
    page.get_by_label("Promo code prefix (empty: no codes)").fill("SPRING")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("heading", name="Spring offer")).to_be_visible()

    page.locator("#launch").click()
    assert run_worker() == 0  # fan-out, then the sends, on a real worker
    page.reload()
    expect(page.get_by_text("done", exact=True).first).to_be_visible()
    received = smtp_sink.received  # type: ignore[attr-defined]
    to = sorted(r for m in received for r in m.recipients)
    assert to == [f"vip{i}@example.org" for i in range(3)]  # not the opted-out one
    bodies = [part.get_payload(decode=True).decode() for m in received
              for part in m.message.walk() if part.get_content_type() == "text/plain"]  # fmt: skip
    assert len(bodies) == 3 and all("your code is SPRING-" in b for b in bodies)
