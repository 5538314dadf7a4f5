from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from app.auth import service
from app.auth.models import ROLE_VALUES, User
from app.errors import DomainError
from app.extensions import db


@click.group("users", help="Users and API tokens.")
def users_cli() -> None:
    pass


@users_cli.command("create")
@click.argument("email")
@click.option("--name", default="")
@click.option("--role", type=click.Choice(ROLE_VALUES), default="sales", show_default=True)
@click.password_option()
@with_appcontext
def create_user(email: str, name: str, role: str, password: str) -> None:
    try:
        with db.transaction() as session:
            user = service.create_user(session, email, name or email, password, role)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"Created {user.email} ({user.role}).")


@users_cli.command("token")
@click.argument("email")
@click.option("--name", default="cli")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(service.API_SCOPES))
@with_appcontext
def create_token(email: str, name: str, scopes: tuple[str, ...]) -> None:
    """Create an API token for EMAIL and print it once."""
    try:
        with db.transaction() as session:
            user = session.scalar(select(User).where(User.email == email.lower()))
            if user is None:
                raise click.ClickException(f"No user {email}.")
            _token, secret = service.create_api_token(
                session, user, name, scopes or service.API_SCOPES
            )
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(secret)
