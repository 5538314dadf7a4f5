"""Health reasons read in the reader's language, numbers included."""

from __future__ import annotations

from flask import Flask
from flask_babel import force_locale

from app.health.reasons import reason_text


def test_numbers_in_reasons_follow_the_locale(app: Flask) -> None:
    tone = {"code": "sentiment_down", "before": 0.14, "now": -0.45}
    silent = {"code": "silent_cooling", "days": 52, "ratio": 3.7, "gap": 14.0}
    with app.test_request_context():
        with force_locale("en"):
            assert reason_text(tone) == "Their tone worsened from 0.14 to -0.45."
            assert reason_text(silent).startswith("Silent for 52 days, 3.7× their usual gap of 14 ")
        with force_locale("it"):
            assert "da 0,14 a -0,45" in reason_text(tone)
            assert "52 giorni, 3,7×" in reason_text(silent)
