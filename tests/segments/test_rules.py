"""Rule segments and static lists: every operator family, all/any, bad rules, who sees what,
and live membership (a new or changed person is in their segments at once)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.contacts import privacy, service
from app.contacts.models import Contact
from app.errors import Conflict, Forbidden, Invalid
from app.segments import rules, runs
from app.segments.models import ContactScore, Segment, SegmentMember, TierAssignment
from tests.segments.helpers import small_network


def rule(field: str, operator: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "operator": operator, "value": value}


@pytest.fixture
def people(session: Session, users: dict[str, User]) -> dict[str, Contact]:
    manager, sales, sales2 = users["manager"], users["sales"], users["sales2"]
    alfa = service.create_organization(
        session, manager, name="Alfa Srl", industry="Meccanica", size_band="50-249",
        city="Milano", key_account=True, annual_value_cents=120_000_00,
    )  # fmt: skip
    beta = service.create_organization(
        session, manager, name="Beta SpA", industry="Vino", city="Verona",
        annual_value_cents=8_000_00,
    )  # fmt: skip
    out = {
        "anna": service.create_contact(
            session, manager, first_name="Anna", last_name="Rossi", email="anna@alfa.it",
            title="Direttrice acquisti", organization_id=alfa.id, owner_id=sales.id,
            language="it", country="IT", city="Milano", source="fiera",
            tags=["vip", "fiera 2024"], consent_status="granted", consent_basis="consent",
        ),
        "bruno": service.create_contact(
            session, manager, first_name="Bruno", last_name="Bianchi", email="bruno@beta.it",
            title="CEO", organization_id=beta.id, owner_id=sales2.id, language="it",
            country="IT", city="Verona", tags=["vino"],
        ),
        "carla": service.create_contact(
            session, manager, first_name="Carla", last_name="100%_Verdi", email="carla@x.com",
            owner_id=sales.id, language="en", country="GB", source="linkedin",
            consent_status="opted_out", consent_basis="consent",
        ),
        "dario": service.create_contact(
            session, manager, first_name="Dario", last_name="Neri", owner_id=None,
        ),
    }  # fmt: skip
    now = datetime.now(UTC)
    service.log_interaction(
        session, manager, [out["anna"]], channel="email", direction="inbound",
        kind="message", occurred_at=now - timedelta(days=3),
    )  # fmt: skip
    service.log_interaction(
        session, manager, [out["bruno"]], channel="meeting", direction="outbound",
        kind="meeting", occurred_at=datetime(2024, 3, 10, 12, tzinfo=UTC),
    )  # fmt: skip
    session.commit()
    return out


def names(session: Session, user: User, match: str, rule_list: list[dict[str, Any]]) -> set[str]:
    count, preview = rules.count_and_preview(session, user, match, rule_list, limit=100)
    assert count == len(preview)
    return {c.first_name for c in preview}


def test_text_operators_are_case_insensitive_and_escape_like(
    session: Session, users: dict[str, User], people: dict[str, Contact]
) -> None:
    admin = users["admin"]
    assert names(session, admin, "all", [rule("first_name", "eq", "ANNA")]) == {"Anna"}
    assert names(session, admin, "all", [rule("first_name", "ne", "anna")]) == {
        "Bruno", "Carla", "Dario",
    }  # fmt: skip
    assert names(session, admin, "all", [rule("email", "contains", "@BETA")]) == {"Bruno"}
    assert names(session, admin, "all", [rule("title", "starts_with", "dir")]) == {"Anna"}
    # % and _ are literal characters, not wildcards
    assert names(session, admin, "all", [rule("last_name", "contains", "0%_v")]) == {"Carla"}
    assert names(session, admin, "all", [rule("last_name", "contains", "%")]) == {"Carla"}
    assert names(session, admin, "all", [rule("last_name", "starts_with", "_")]) == set()
    assert names(session, admin, "all", [rule("city", "in", "milano, verona")]) == {
        "Anna", "Bruno",
    }  # fmt: skip
    # people with no city are "not in" the list
    assert names(session, admin, "all", [rule("city", "not_in", ["Milano"])]) == {
        "Bruno", "Carla", "Dario",
    }  # fmt: skip
    assert names(session, admin, "all", [rule("source", "is_empty")]) == {"Bruno", "Dario"}
    assert names(session, admin, "all", [rule("source", "is_not_empty")]) == {"Anna", "Carla"}
    assert names(session, admin, "all", [rule("country", "eq", "gb")]) == {"Carla"}


def test_choice_id_consent_and_tier_rules(
    session: Session, users: dict[str, User], people: dict[str, Contact]
) -> None:
    admin, sales = users["admin"], users["sales"]
    assert names(session, admin, "all", [rule("consent_status", "eq", "opted_out")]) == {"Carla"}
    assert names(session, admin, "all", [rule("consent_status", "in", "granted,unknown")]) == {
        "Anna", "Bruno", "Dario",
    }  # fmt: skip
    assert names(session, admin, "all", [rule("owner_id", "eq", str(sales.id))]) == {
        "Anna", "Carla",
    }  # fmt: skip
    assert names(session, admin, "all", [rule("owner_id", "is_empty")]) == {"Dario"}
    assert names(session, admin, "all", [rule("owner_id", "ne", sales.id)]) == {"Bruno", "Dario"}
    assert names(session, admin, "all", [rule("tier", "eq", "none")]) == {
        "Anna", "Bruno", "Carla", "Dario",
    }  # fmt: skip
    assert names(session, admin, "all", [rule("tier", "ne", "none")]) == set()


def test_account_rules(
    session: Session, users: dict[str, User], people: dict[str, Contact]
) -> None:
    admin = users["admin"]
    assert names(session, admin, "all", [rule("account.name", "contains", "alfa")]) == {"Anna"}
    assert names(session, admin, "all", [rule("account.industry", "eq", "vino")]) == {"Bruno"}
    assert names(session, admin, "all", [rule("account.size_band", "eq", "50-249")]) == {"Anna"}
    assert names(session, admin, "all", [rule("account.size_band", "is_empty")]) == {
        "Bruno", "Carla", "Dario",
    }  # fmt: skip
    assert names(session, admin, "all", [rule("account.city", "eq", "VERONA")]) == {"Bruno"}
    assert names(session, admin, "all", [rule("account.key_account", "eq", "yes")]) == {"Anna"}
    assert names(session, admin, "all", [rule("account.key_account", "eq", False)]) == {
        "Bruno", "Carla", "Dario",
    }  # fmt: skip
    # money in euros, stored and compared in integer cents
    assert names(session, admin, "all", [rule("account.annual_value", "gte", "8000")]) == {
        "Anna", "Bruno",
    }  # fmt: skip
    assert names(session, admin, "all", [rule("account.annual_value", "gt", "8000,00")]) == {"Anna"}
    assert names(session, admin, "all", [rule("account.annual_value", "lt", 1)]) == {
        "Carla", "Dario",
    }  # fmt: skip


def test_tag_rules(session: Session, users: dict[str, User], people: dict[str, Contact]) -> None:
    admin = users["admin"]
    assert names(session, admin, "all", [rule("tags", "has_tag", "VIP")]) == {"Anna"}
    assert names(session, admin, "all", [rule("tags", "has_tag", "fiera  2024")]) == {"Anna"}
    assert names(session, admin, "all", [rule("tags", "lacks_tag", "vip")]) == {
        "Bruno", "Carla", "Dario",
    }  # fmt: skip
    assert names(session, admin, "all", [rule("tags", "has_tag", "nobody-has-this")]) == set()


def test_date_rules_and_relative_windows(
    session: Session, users: dict[str, User], people: dict[str, Contact]
) -> None:
    admin = users["admin"]
    last = "last_interaction_at"
    assert names(session, admin, "all", [rule(last, "within_days", 7)]) == {"Anna"}
    # never contacted counts as "not within"
    assert names(session, admin, "all", [rule(last, "not_within_days", "7")]) == {
        "Bruno", "Carla", "Dario",
    }  # fmt: skip
    assert names(session, admin, "all", [rule(last, "lt", "2024-03-10")]) == set()
    assert names(session, admin, "all", [rule(last, "lte", "2024-03-10")]) == {"Bruno"}
    assert names(session, admin, "all", [rule(last, "gte", "2024-03-10")]) == {"Anna", "Bruno"}
    assert names(session, admin, "all", [rule(last, "gt", "2024-03-10")]) == {"Anna"}
    assert names(session, admin, "all", [rule(last, "is_empty")]) == {"Carla", "Dario"}
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert len(names(session, admin, "all", [rule("created_at", "lt", tomorrow)])) == 4
    assert names(session, admin, "all", [rule("created_at", "gt", tomorrow)]) == set()
    assert len(names(session, admin, "all", [rule("created_at", "within_days", 1)])) == 4


def test_all_and_any(session: Session, users: dict[str, User], people: dict[str, Contact]) -> None:
    admin = users["admin"]
    both = [rule("country", "eq", "IT"), rule("tags", "has_tag", "vino")]
    assert names(session, admin, "all", both) == {"Bruno"}
    assert names(session, admin, "any", both) == {"Anna", "Bruno"}
    either = [rule("first_name", "eq", "dario"), rule("consent_status", "eq", "opted_out")]
    assert names(session, admin, "any", either) == {"Carla", "Dario"}
    assert names(session, admin, "all", either) == set()
    # no rules: everyone visible
    assert len(names(session, admin, "all", [])) == 4


def test_score_circle_rules_use_the_latest_finished_run(
    session: Session, users: dict[str, User]
) -> None:
    manager = users["manager"]
    people = small_network(session, manager, n=20)
    admin = users["admin"]
    top = [rule("score.rank", "lte", 3)]
    # no finished run yet: score rules match nobody, other rules still work
    assert rules.count_and_preview(session, admin, "all", top)[0] == 0
    assert rules.count_and_preview(session, admin, "any", [*top, rule("email", "contains", "p1")])[
        0
    ] == len([p for p in people if "p1" in p.email])
    run = runs.start_run(session, manager)
    runs.execute_run(session, run.id)
    session.commit()
    assert rules.count_and_preview(session, admin, "all", top)[0] == 3
    best = session.scalar(select(ContactScore).where(ContactScore.rank == 1))
    assert best is not None
    threshold = str(best.potential)
    count, preview = rules.count_and_preview(
        session, admin, "all", [rule("score.potential", "gte", threshold)]
    )
    assert best.contact_id in {c.id for c in preview}
    total = rules.count_and_preview(session, admin, "all", [rule("score.potential", "gte", 0)])
    assert total[0] == 20
    for component in ("influence", "bridging", "engagement", "account_value", "sentiment"):
        got = rules.count_and_preview(session, admin, "all", [rule(f"score.{component}", "gte", 0)])
        assert got[0] == 20, component
    assert (
        rules.count_and_preview(session, admin, "all", [rule("score.potential", "gt", 100)])[0] == 0
    )
    # circles: the people the run put in a circle
    circle_rows = session.execute(
        select(TierAssignment.circle_id, func.count())
        .where(TierAssignment.circle_id.is_not(None))
        .group_by(TierAssignment.circle_id)
    ).all()
    for circle_id, members in circle_rows:
        assert (
            rules.count_and_preview(session, admin, "all", [rule("circle_id", "eq", circle_id)])[0]
            == members
        )
    in_any = sum(m for _, m in circle_rows)
    assert (
        rules.count_and_preview(session, admin, "all", [rule("circle_id", "is_not_empty")])[0]
        == in_any
    )
    assert rules.count_and_preview(session, admin, "all", [rule("tier", "eq", "one_to_one")])[
        0
    ] == session.scalar(select(func.count()).where(TierAssignment.tier == "one_to_one"))


@pytest.mark.parametrize(
    "bad, message",
    [
        (rule("password_hash", "eq", "x"), "unknown field"),
        (rule("first_name", "like", "x"), "unknown operator"),
        (rule("first_name", "gt", "x"), "does not apply"),
        (rule("tags", "eq", "vip"), "does not apply"),
        (rule("score.potential", "gt", "lots"), "number"),
        (rule("account.annual_value", "gt", "1e999999x"), "amount"),
        (rule("score.rank", "lt", "2.5"), "whole number"),
        (rule("owner_id", "eq", True), "whole number"),
        (rule("created_at", "lt", "yesterday"), "YYYY-MM-DD"),
        (rule("last_interaction_at", "within_days", "-3"), "days"),
        (rule("consent_status", "eq", "maybe"), "granted"),
        (rule("city", "in", []), "empty"),
        (rule("city", "in", " , ,"), "empty"),
        (rule("city", "eq", ""), "value is needed"),
        (rule("city", "eq", ["a"]), "single value"),
        (rule("account.key_account", "eq", "perhaps"), "yes or no"),
        ("first_name = 'x'", "a rule needs"),
    ],
)
def test_bad_rules_are_refused_naming_the_rule(
    session: Session, users: dict[str, User], bad: Any, message: str
) -> None:
    good = rule("first_name", "eq", "anna")
    with pytest.raises(Invalid) as err:
        rules.count_and_preview(session, users["admin"], "all", [good, bad])
    assert err.value.message.startswith("Rule 2:"), err.value.message
    assert message in err.value.message
    with pytest.raises(Invalid):
        rules.create_segment(session, users["admin"], name="Bad", rules=[good, bad])
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Segment)) == 0


def test_bad_match_is_refused(session: Session, users: dict[str, User]) -> None:
    with pytest.raises(Invalid):
        rules.compile_segment(session, "most", [])


def test_values_are_bound_parameters(session: Session, users: dict[str, User]) -> None:
    clause = rules.compile_segment(session, "all", [rule("city", "eq", "x'; DROP TABLE contacts")])
    assert "DROP" not in str(clause.compile())
    assert rules.count_and_preview(
        session, users["admin"], "all", [rule("city", "eq", "x'; DROP TABLE contacts; --")]
    ) == (0, [])
    assert session.scalar(select(func.count()).select_from(Contact)) == 0


def test_salespeople_only_count_their_own_people(
    session: Session, users: dict[str, User], people: dict[str, Contact]
) -> None:
    everyone = [rule("country", "in", "IT,GB")]
    assert names(session, users["admin"], "all", everyone) == {"Anna", "Bruno", "Carla"}
    assert names(session, users["marketer"], "all", everyone) == {"Anna", "Bruno", "Carla"}
    assert names(session, users["sales"], "all", everyone) == {"Anna", "Carla"}
    assert names(session, users["sales2"], "all", everyone) == {"Bruno"}
    segment = rules.create_segment(session, users["marketer"], name="Europe", rules=everyone)
    session.commit()
    assert rules.segment_count(session, users["sales"], segment) == 2
    assert rules.segment_counts(session, users["sales2"], [segment]) == {segment.id: 1}
    # a job evaluating the audience sees everyone
    assert len(rules.segment_members_ids(session, segment)) == 3


def test_erased_and_merged_people_leave_their_segments(
    session: Session, users: dict[str, User], people: dict[str, Contact]
) -> None:
    manager = users["manager"]
    segment = rules.create_segment(
        session, manager, name="Italians", rules=[rule("language", "eq", "it")]
    )
    session.commit()
    assert set(rules.segment_members_ids(session, segment)) == {
        people["anna"].id, people["bruno"].id,
    }  # fmt: skip
    twin = service.create_contact(session, manager, first_name="Anna", language="it")
    session.commit()
    assert len(rules.segment_members_ids(session, segment)) == 3
    service.merge_contacts(session, manager, people["anna"], twin)
    privacy.erase_contact(session, manager, people["bruno"], reason="asked")
    session.commit()
    assert rules.segment_members_ids(session, segment) == [people["anna"].id]


def test_new_and_changed_contacts_reach_their_segments_at_once(
    session: Session, users: dict[str, User]
) -> None:
    manager = users["manager"]
    segment = rules.create_segment(
        session, users["marketer"], name="Milan buyers", match="all",
        rules=[rule("city", "eq", "milano"), rule("tags", "has_tag", "buyer")],
    )  # fmt: skip
    session.commit()
    assert rules.segment_members_ids(session, segment) == []
    # a new person who matches: in the segment with no rebuild of any kind
    new = service.create_contact(
        session, manager, first_name="Elena", city="Milano", tags=["buyer"]
    )
    session.commit()
    assert rules.segment_members_ids(session, segment) == [new.id]
    assert rules.segment_count(session, users["admin"], segment) == 1
    # an existing person edited to match
    other = service.create_contact(session, manager, first_name="Franco", city="Roma")
    session.commit()
    assert other.id not in rules.segment_members_ids(session, segment)
    service.update_contact(session, manager, other, city="Milano", tags=["buyer", "x"])
    session.commit()
    assert set(rules.segment_members_ids(session, segment)) == {new.id, other.id}
    # and edited to no longer match: out at once
    service.update_contact(session, manager, new, tags=[])
    session.commit()
    assert rules.segment_members_ids(session, segment) == [other.id]
    # an interaction moves people in a "recently contacted" segment
    recent = rules.create_segment(
        session, manager, name="Recent", rules=[rule("last_interaction_at", "within_days", 30)]
    )
    session.commit()
    assert rules.segment_members_ids(session, recent) == []
    service.log_interaction(
        session, manager, [other], channel="phone", direction="outbound", kind="call",
        occurred_at=datetime.now(UTC) - timedelta(hours=1),
    )  # fmt: skip
    session.commit()
    assert rules.segment_members_ids(session, recent) == [other.id]
    # consent changes reach consent rules at once
    granted = rules.create_segment(
        session, manager, name="Granted", rules=[rule("consent_status", "eq", "granted")]
    )
    service.change_consent(session, manager.id, other, "granted", "consent")
    session.commit()
    assert rules.segment_members_ids(session, granted) == [other.id]


def test_create_update_delete_and_unique_names(
    session: Session, users: dict[str, User], people: dict[str, Contact]
) -> None:
    marketer = users["marketer"]
    segment = rules.create_segment(
        session, marketer, name="  Wine   people ", description=" wine ",
        rules=[{"field": "account.industry", "op": "eq", "value": "Vino"}],
    )  # fmt: skip
    session.commit()
    assert segment.name == "Wine people" and segment.description == "wine"
    # stored in canonical form
    assert segment.rules == [{"field": "account.industry", "operator": "eq", "value": "vino"}]
    assert rules.segment_members_ids(session, segment) == [people["bruno"].id]
    with pytest.raises(Conflict) as err:
        rules.create_segment(session, users["manager"], name="Wine people")
    assert err.value.field == "name"
    session.rollback()
    rules.update_segment(
        session, marketer, segment, match="any",
        rules=[rule("first_name", "eq", "anna"), rule("first_name", "eq", "carla")],
    )  # fmt: skip
    session.commit()
    assert segment.updated_at is not None
    assert set(rules.segment_members_ids(session, segment)) == {
        people["anna"].id, people["carla"].id,
    }  # fmt: skip
    with pytest.raises(Invalid):
        rules.update_segment(session, marketer, segment, rules=[rule("nope", "eq", 1)])
    session.rollback()
    session.refresh(segment)
    assert segment.match == "any" and len(segment.rules) == 2
    # a salesperson may create their own segments but not change other people's
    mine = rules.create_segment(session, users["sales"], name="Mine")
    session.commit()
    with pytest.raises(Forbidden):
        rules.update_segment(session, users["sales"], segment, name="Hijack")
    with pytest.raises(Forbidden):
        rules.delete_segment(session, users["sales"], segment)
    rules.update_segment(session, users["sales"], mine, name="Mine too")
    rules.delete_segment(session, users["manager"], segment)
    session.commit()
    assert [s.name for s in rules.list_segments(session)] == ["Mine too"]


def test_static_lists(session: Session, users: dict[str, User], people: dict[str, Contact]) -> None:
    sales = users["sales"]
    segment = rules.create_segment(session, sales, name="Dinner guests", kind="static")
    session.commit()
    assert segment.kind == "static" and segment.rules == []
    assert rules.add_to_static(session, sales, segment, people["anna"]) is True
    assert rules.add_to_static(session, sales, segment, people["anna"]) is False
    assert rules.add_to_static(session, sales, segment, people["carla"]) is True
    # a salesperson cannot add someone else's contact
    with pytest.raises(Forbidden):
        rules.add_to_static(session, sales, segment, people["bruno"])
    session.commit()
    assert set(rules.segment_members_ids(session, segment)) == {
        people["anna"].id, people["carla"].id,
    }  # fmt: skip
    assert rules.remove_from_static(session, sales, segment, people["carla"].id) is True
    assert rules.remove_from_static(session, sales, segment, people["carla"].id) is False
    session.commit()
    assert rules.segment_members_ids(session, segment) == [people["anna"].id]
    # a manager adds someone the salesperson cannot see: the salesperson's count hides them
    rules.add_to_static(session, users["manager"], segment, people["bruno"])
    session.commit()
    assert rules.segment_count(session, sales, segment) == 1
    assert rules.segment_count(session, users["manager"], segment) == 2
    rules_segment = rules.create_segment(session, sales, name="Rules")
    with pytest.raises(Invalid):
        rules.add_to_static(session, sales, rules_segment, people["anna"])
    # deleting a list removes its memberships, not the people
    rules.delete_segment(session, sales, segment)
    session.commit()
    assert session.scalar(select(func.count()).select_from(SegmentMember)) == 0
    assert session.get(Contact, people["anna"].id) is not None


def test_segment_counts_in_one_query_and_stale_rules(
    session: Session, users: dict[str, User], people: dict[str, Contact]
) -> None:
    admin = users["admin"]
    a = rules.create_segment(session, admin, name="A", rules=[rule("country", "eq", "IT")])
    b = rules.create_segment(session, admin, name="B", kind="static")
    c = rules.create_segment(session, admin, name="C", rules=[rule("score.rank", "lte", 5)])
    rules.add_to_static(session, admin, b, people["dario"])
    stale = rules.create_segment(session, admin, name="Stale")
    stale.rules = [{"field": "removed_field", "operator": "eq", "value": 1}]
    session.commit()
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        counts = rules.segment_counts(session, admin, [a, b, c, stale])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert counts == {a.id: 2, b.id: 1, c.id: 0, stale.id: None}
    # the latest run, then every count in one statement
    assert [s.split()[0] for s in statements if s != "BEGIN"] == ["SELECT", "SELECT"], statements
    assert rules.segment_page(session, admin, a, page=1, per_page=1).total == 2
    assert len(rules.segment_page(session, admin, a, page=2, per_page=1).items) == 1
