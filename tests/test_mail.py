from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from app.mail import MailError, MailSettings, build_message, mailer


def test_messages_go_through_one_smtp_connection(app: Flask, smtp_sink) -> None:
    settings = MailSettings.from_config(app.config)
    with mailer(settings) as m:
        for i in range(3):
            m.send(build_message(settings, f"p{i}@example.com", "Ciao", "Testo", "<p>Testo</p>"))
    assert sorted(r.recipients[0] for r in smtp_sink.received) == [
        "p0@example.com", "p1@example.com", "p2@example.com",
    ]  # fmt: skip
    assert smtp_sink.received[0].message["Subject"] == "Ciao"


def test_bad_address_is_permanent_and_deferral_is_temporary(app: Flask, smtp_sink) -> None:
    settings = MailSettings.from_config(app.config)
    with mailer(settings) as m:
        with pytest.raises(MailError) as bad:
            m.send(build_message(settings, "bounce@example.com", "x", "y"))
        with pytest.raises(MailError) as later:
            m.send(build_message(settings, "deferred@example.com", "x", "y"))
    assert bad.value.permanent and not later.value.permanent
    assert smtp_sink.received == []


def test_unreachable_server_is_a_temporary_failure(app: Flask) -> None:
    from tests.smtp_sink import free_port

    settings = MailSettings.from_config(
        {**app.config, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": free_port(), "SMTP_TLS": "none"}
    )
    with pytest.raises(MailError) as exc:
        with mailer(settings):
            pass
    assert not exc.value.permanent


def test_outbox_when_no_smtp_server(app: Flask, tmp_path: Path) -> None:
    settings = MailSettings.from_config({**app.config, "SMTP_HOST": "", "INSTANCE_DIR": tmp_path})
    with mailer(settings) as m:
        m.send(build_message(settings, "a@example.com", "Oggetto", "Corpo"))
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1 and b"Oggetto" in files[0].read_bytes()
