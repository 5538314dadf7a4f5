"""Open pixel, click redirect, one-click unsubscribe, drops and webhooks, through HTTP."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.campaigns import jobs as campaign_jobs
from app.campaigns import launch
from app.campaigns.channels import SIGNATURE_HEADER, sign_body, webhook_secret
from app.campaigns.models import Delivery, DropLink, DropView
from app.campaigns.tracking import PIXEL_GIF
from app.contacts.models import ConsentEvent, Contact, Interaction
from app.db import utcnow
from tests.campaigns.conftest import add_people, deliveries, launch_now, new_campaign


def _sent_campaign(session: Session, users: Any, run_worker: Any, n: int = 1) -> list[Delivery]:
    add_people(session, users["manager"], [f"t{i}@example.org" for i in range(n)])
    campaign = new_campaign(session, users["marketer"])
    session.commit()
    launch_now(session, users["marketer"], campaign)
    run_worker()
    return deliveries(session, campaign.id)


def _kinds(session: Session) -> list[str]:
    session.expire_all()
    return sorted(session.scalars(select(Interaction.kind)))


def test_open_click_unsubscribe_become_interactions(
    session: Session, users: Any, client: Any, smtp_sink: Any, run_worker: Any
) -> None:
    d = _sent_campaign(session, users, run_worker)[0]
    signer = campaign_jobs.signer_from(current_app.config)
    path = lambda url: url.replace(current_app.config["BASE_URL"], "")  # noqa: E731

    for _ in range(2):
        resp = client.get(path(signer.open_url(d.id)))
        assert resp.status_code == 200 and resp.data == PIXEL_GIF
    assert _kinds(session) == ["open"]  # twice fetched, one interaction
    assert session.get(Delivery, d.id).opened_at is not None

    resp = client.get(path(signer.click_url(d.id, "https://example.org/offer")))
    assert resp.status_code == 302 and resp.headers["Location"] == "https://example.org/offer"
    token = path(signer.click_url(d.id, "https://example.org/offer"))
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    resp = client.get(tampered)
    assert resp.status_code == 400 and "Location" not in resp.headers
    assert _kinds(session) == ["click", "open"]

    # A tampered unsubscribe link: a clear message, nothing changed.
    url = path(signer.unsubscribe_url(d.id))
    resp = client.post(url[:-2] + "xx")
    assert resp.status_code == 400 and b"not valid" in resp.data
    assert session.get(Contact, d.contact_id).consent_status == "granted"
    # GET asks; the one-click POST (RFC 8058) does it.
    assert client.get(url).status_code == 200
    assert session.get(Contact, d.contact_id).consent_status == "granted"
    resp = client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert resp.status_code == 200
    session.expire_all()
    contact = session.get(Contact, d.contact_id)
    assert contact.consent_status == "opted_out" and contact.consent_basis == "consent"
    event = session.scalar(
        select(ConsentEvent)
        .where(ConsentEvent.contact_id == contact.id)
        .order_by(ConsentEvent.id.desc())
    )
    assert event.source == "unsubscribe" and event.old_status == "granted"
    assert "message" in _kinds(session)


def test_drop_links_views_forwarding_revocation_and_expiry(
    session: Session,
    users: Any,
    client: Any,
    smtp_sink: Any,
    run_worker: Any,
    config_override: Any,
) -> None:
    config_override(DROP_FORWARD_NETWORKS=3)
    people = add_people(session, users["manager"], ["d0@example.org", "d1@example.org"])
    campaign = new_campaign(
        session, users["marketer"], kind="reserved_drop", body="Your reserved link: {{ drop_link }}"
    )
    launch.set_drop(
        session,
        campaign,
        title="Q4 price list",
        content="Secret prices",
        expires_at=utcnow() + timedelta(days=3),
    )
    session.commit()
    launch_now(session, users["marketer"], campaign)
    run_worker()
    assert len(smtp_sink.received) == 2
    body = smtp_sink.received[0].message.get_payload()[0].get_payload(decode=True).decode()
    base = current_app.config["BASE_URL"]
    link = next(w for w in body.split() if w.startswith(base + "/d/"))
    path = link.replace(base, "")

    resp = client.get(path, environ_base={"REMOTE_ADDR": "10.0.1.5"})
    assert resp.status_code == 200 and b"Secret prices" in resp.data
    for ip in ("10.0.1.9", "10.0.2.5", "10.0.3.5"):
        client.get(path, environ_base={"REMOTE_ADDR": ip})
    session.expire_all()
    dl = session.scalar(select(DropLink).where(DropLink.contact_id == people[0].id))
    assert dl.views_count == 4 and dl.flagged_forwarded_at is not None
    assert (
        session.scalar(select(DropView.network).where(DropView.link_id == dl.id)) == "10.0.1.0/24"
    )
    assert "view" in _kinds(session)

    # Forged: 400 and no content.
    resp = client.get(path[:-4] + "abcd")
    assert resp.status_code == 400 and b"Secret prices" not in resp.data
    # Revoked: 410.
    from app.campaigns import drops

    drops.revoke_link(session, dl)
    session.commit()
    resp = client.get(path)
    assert resp.status_code == 410 and b"Secret prices" not in resp.data
    # Expired: 410 for the others too.
    other = session.scalar(select(DropLink).where(DropLink.contact_id == people[1].id))
    other.drop.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    token = drops.drop_token(current_app.config["SECRET_KEY"], other.id)
    resp = client.get(f"/d/{token}")
    assert resp.status_code == 410 and b"expired" in resp.data


class _SlowHook(BaseHTTPRequestHandler):
    delay = 0.0
    received: list[tuple[bytes, str]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(self.delay)
        type(self).received.append((body, self.headers.get(SIGNATURE_HEADER, "")))
        try:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")
        except OSError:
            pass

    def log_message(self, *args: Any) -> None:
        pass


def _hook_server(delay: float) -> HTTPServer:
    handler = type("Hook", (_SlowHook,), {"delay": delay, "received": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_webhook_is_signed_and_a_timeout_is_retried_not_lost(
    session: Session, users: Any, run_worker: Any, config_override: Any
) -> None:
    config_override(CAMPAIGN_WEBHOOK_TIMEOUT=0.3)
    add_people(session, users["manager"], ["w@example.org"])
    fast, slow = _hook_server(0), _hook_server(1.0)
    try:
        ok = new_campaign(
            session,
            users["marketer"],
            channel="webhook",
            webhook_url=f"http://127.0.0.1:{fast.server_port}/hook",
        )
        session.commit()
        launch_now(session, users["marketer"], ok)
        run_worker()
        body, signature = fast.RequestHandlerClass.received[0]  # type: ignore[attr-defined]
        assert signature == sign_body(webhook_secret(current_app.config), body)
        assert deliveries(session, ok.id)[0].status == "sent"

        late = new_campaign(
            session,
            users["marketer"],
            channel="webhook",
            name="Slow",
            webhook_url=f"http://127.0.0.1:{slow.server_port}/hook",
        )
        session.commit()
        launch_now(session, users["marketer"], late)
        run_worker()
        d = deliveries(session, late.id)[0]
        assert d.status == "pending" and d.error == "webhook timed out"
        assert d.next_attempt_at is not None
    finally:
        fast.shutdown()
        slow.shutdown()


def test_public_doors_need_no_login_nor_csrf_token(
    session: Session, users: Any, client: Any, run_worker: Any, config_override: Any
) -> None:
    d = _sent_campaign(session, users, run_worker)[0]
    config_override(WTF_CSRF_ENABLED=True)
    signer = campaign_jobs.signer_from(current_app.config)
    url = signer.unsubscribe_url(d.id).replace(current_app.config["BASE_URL"], "")
    resp = client.post(url, data={"List-Unsubscribe": "One-Click"})  # a mail client's POST
    assert resp.status_code == 200
    session.expire_all()
    assert session.get(Contact, d.contact_id).consent_status == "opted_out"
    # The staff pages keep their login and CSRF checks.
    assert client.get("/campaigns").status_code == 302
    assert client.post(f"/campaigns/{d.campaign_id}/launch").status_code in (302, 400)
