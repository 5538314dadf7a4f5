"""The top bar: which sections a user sees, and which one the current page belongs to."""

from __future__ import annotations

from dataclasses import dataclass

from flask import url_for
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

from app.auth.models import Role, User

# (endpoint, label, roles that see it; None: everyone signed in)
SECTIONS: tuple[tuple[str, LazyString, tuple[str, ...] | None], ...] = (
    ("contacts.index", _l("Contacts"), None),
    ("contacts.organizations", _l("Accounts"), None),
    ("segments.board", _l("Tiers"), None),
    ("segments.segment_list", _l("Segments"), None),
    ("campaigns.index", _l("Campaigns"), None),
    ("campaigns.calendar_page", _l("Calendar"), None),
    ("loyalty.index", _l("Loyalty"), None),
    ("health.inbox_page", _l("Inbox"), None),
    ("health.my_day", _l("My day"), None),
    ("health.dashboard_page", _l("Health"), (Role.ADMIN, Role.MANAGER)),
    ("health.alerts_page", _l("Alerts"), None),
    ("contacts.import_upload", _l("Import"), (Role.ADMIN, Role.MANAGER, Role.SALES)),
    ("auth.tokens", _l("API tokens"), None),
    ("admin.job_queues", _l("Jobs"), (Role.ADMIN,)),
)


@dataclass
class NavLink:
    endpoint: str
    url: str
    label: LazyString
    current: bool = False


def nav_links(user: User, path: str) -> list[NavLink]:
    """The user's sections; the current one is the longest link that prefixes `path`
    (so /campaigns/calendar is Calendar, not Campaigns)."""
    links = [
        NavLink(endpoint, url_for(endpoint), label)
        for endpoint, label, roles in SECTIONS
        if roles is None or user.role in roles
    ]
    here = path.rstrip("/")
    inside = [
        link for link in links
        if here == link.url.rstrip("/") or here.startswith(link.url.rstrip("/") + "/")
    ]  # fmt: skip
    if inside:
        max(inside, key=lambda link: len(link.url.rstrip("/"))).current = True
    return links
