"""Cerchia: an open relationship engine for one-to-few outreach."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

from flask import Flask, g, request, session

from config import Config


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(Config().INSTANCE_DIR), instance_relative_config=True)
    app.config.from_mapping(Config().as_dict())
    if overrides:
        app.config.from_mapping(overrides)

    register_logging(app)
    register_extensions(app)
    connect_domains()
    register_blueprints(app)
    register_cli(app)
    register_request_hooks(app)
    register_template_helpers(app)

    from app.errors import register_error_handlers

    register_error_handlers(app)
    return app


def register_logging(app: Flask) -> None:
    from app.logging_setup import configure_logging

    configure_logging(app.config["LOG_LEVEL"])


def connect_domains() -> None:
    """Hooks between domains that must not import each other (health reads loyalty)."""
    from app.health.snapshots import register_loyalty_source
    from app.loyalty.activity import recent_activity

    register_loyalty_source(recent_activity)


def register_extensions(app: Flask) -> None:
    from app import jobs
    from app.auth.service import load_user
    from app.extensions import babel, csrf, db, login_manager
    from app.i18n import select_locale, select_timezone

    db.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    login_manager.user_loader(lambda user_id: load_user(db.session, user_id))
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    jobs.init_app(app)


def register_blueprints(app: Flask) -> None:
    from app.admin.views import bp as admin_bp
    from app.api import bp as api_bp
    from app.auth.views import bp as auth_bp
    from app.campaigns.views import bp as campaigns_bp
    from app.contacts.views import bp as contacts_bp
    from app.extensions import csrf
    from app.health.views import bp as health_domain_bp
    from app.health_check import bp as health_bp
    from app.loyalty.views import bp as loyalty_bp
    from app.segments.views import bp as segments_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(contacts_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(segments_bp)
    app.register_blueprint(campaigns_bp)
    app.register_blueprint(loyalty_bp)
    app.register_blueprint(health_domain_bp)
    csrf.exempt(api_bp)  # the API authenticates with bearer tokens, not cookies
    app.register_blueprint(api_bp)


def register_cli(app: Flask) -> None:
    from app.auth.cli import users_cli
    from app.campaigns.cli import campaigns_cli
    from app.cli import db_cli, demo_command, serve_command, worker_command
    from app.contacts.cli import contacts_cli
    from app.health.cli import health_cli
    from app.loyalty.cli import loyalty_cli
    from app.segments.cli import graph_cli

    app.cli.add_command(db_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(campaigns_cli)
    app.cli.add_command(contacts_cli)
    app.cli.add_command(health_cli)
    app.cli.add_command(loyalty_cli)
    app.cli.add_command(graph_cli)
    app.cli.add_command(demo_command)
    app.cli.add_command(worker_command)
    app.cli.add_command(serve_command)


def register_request_hooks(app: Flask) -> None:
    log = logging.getLogger("cerchia.request")

    @app.before_request
    def _start() -> None:
        g.request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex[:16]
        g.started = time.perf_counter()

    @app.after_request
    def _headers(response: Any) -> Any:
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers["X-Request-Id"] = g.get("request_id", "")
        elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        response.headers["Server-Timing"] = f"app;dur={elapsed_ms:.1f}"
        if request.path != "/healthz" and not request.path.startswith("/static"):
            log.info(
                "request",
                extra={
                    "request_id": g.get("request_id"),
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "ms": round(elapsed_ms, 1),
                },
            )
        return response

    @app.before_request
    def _language_switch() -> None:
        lang = request.args.get("lang")
        if lang in app.config["LANGUAGES"]:
            session["lang"] = lang


def register_template_helpers(app: Flask) -> None:
    from app.i18n import register_filters
    from app.navigation import nav_links

    register_filters(app)
    app.jinja_env.globals["nav_links"] = nav_links
