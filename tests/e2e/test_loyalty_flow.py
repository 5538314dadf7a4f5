"""A marketer's loyalty flow in a real browser: a member's statement, a reward redeemed
for a code, the balance and the history updated, the redemption cancelled."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from app.auth.models import User
from app.contacts import service
from app.db import utcnow
from app.loyalty import programmes
from app.loyalty.earning import sync_purchases
from tests.loyalty.helpers import member, programme

pytestmark = pytest.mark.e2e


def test_redeem_a_reward_from_a_members_statement(
    web: Page, sign_in: Callable[[User], Page], session: Session, users: dict[str, User]
) -> None:
    admin, marketer = users["admin"], users["marketer"]
    prog = programme(session, admin)  # 1 point per euro; Silver at 100, Gold at 500
    programmes.add_reward(session, admin, prog, name="Espresso cups", points_cost=120)
    m = member(session, admin, prog)
    service.log_interaction(
        session, admin, [m.contact], channel="shop", direction="inbound", kind="purchase",
        occurred_at=utcnow() - timedelta(hours=2), value_cents=150_00,
    )  # fmt: skip
    session.commit()
    sync_purchases(session)
    session.commit()

    page = sign_in(marketer)
    page.get_by_role("link", name="Loyalty").click()
    page.get_by_role("link", name="Members").first.click()
    page.get_by_role("link", name=m.contact.full_name).click()
    expect(page.locator("#balance")).to_have_text(re.compile(r"^150 points"))
    reward = page.get_by_label("Reward")
    reward.select_option(reward.locator("option", has_text="Espresso cups").get_attribute("value"))
    page.get_by_role("button", name="Redeem").click()
    expect(page.locator("#balance")).to_have_text(re.compile(r"^30 points"))
    row = page.locator("#redemptions tbody tr").first
    expect(row).to_contain_text("Espresso cups")
    expect(row.locator("code")).to_have_text(re.compile(r"\S{6,}"))  # the code to hand over
    expect(page.locator("#history")).to_contain_text("-120")

    row.get_by_role("button", name="Cancel and refund").click()
    expect(page.locator("#balance")).to_have_text(re.compile(r"^150 points"))
    expect(page.locator("#redemptions tbody tr").first).to_contain_text("cancelled")
