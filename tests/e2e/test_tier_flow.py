"""A manager's main flow on tiers in a real browser: run scoring from the tier board, read
a circle and a person's explanation, pin someone to one-to-one with a reason."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.segments.models import TierAssignment, TierChange
from tests.segments.helpers import small_network

pytestmark = pytest.mark.e2e


def test_run_from_the_board_read_a_circle_and_pin_a_person(
    web: Page,
    sign_in: Callable[[User], Page],
    session: Session,
    users: dict[str, User],
    run_worker: Callable[[], int],
) -> None:
    manager = users["manager"]
    manager.capacity = 3
    small_network(session, manager, n=40)
    session.commit()
    page = sign_in(manager)

    page.get_by_role("link", name="Tiers").click()
    page.get_by_role("button", name="Run scoring now").click()
    assert run_worker() == 0  # the run is a real RQ job
    page.goto("/tiers")
    expect(page.locator(".stat").first).not_to_have_text("0")
    one_to_one = page.get_by_text(re.compile(r"3 of 3")).first
    expect(one_to_one).to_be_visible()  # the owner's capacity, used

    # A circle: its members and what they share.
    page.locator("#circles a").first.click()
    expect(page.get_by_text(re.compile(r"\d+ members"))).to_be_visible()

    # Someone in broadcast, pinned to one-to-one with a reason.
    session.rollback()
    broadcast = session.scalar(
        select(TierAssignment.contact_id).where(TierAssignment.tier == "broadcast").limit(1)
    )
    assert broadcast is not None
    page.goto(f"/contacts/{broadcast}")
    expect(page.get_by_text(re.compile(r"rank \d+ of 40"))).to_be_visible()
    page.get_by_label("Tier", exact=True).select_option("one_to_one")
    page.get_by_label("Reason").fill("Met the owner at the trade fair")
    page.get_by_role("button", name="Pin to this tier").click()
    expect(page.locator("#contact-tier")).to_have_text("one-to-one")
    expect(page.get_by_text("(pinned)")).to_be_visible()
    session.rollback()  # end the test's read transaction: see what the server committed
    move = session.scalars(
        select(TierChange).where(TierChange.contact_id == broadcast).order_by(TierChange.id.desc())
    ).first()
    assert move is not None and (move.from_tier, move.to_tier) == ("broadcast", "one_to_one")
    assert move.changed_by_id == manager.id and move.reason == "Met the owner at the trade fair"
