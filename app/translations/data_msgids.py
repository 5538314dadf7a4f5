"""Msgids that templates translate from stored values, e.g. ``{{ _(contact.tier) }}``.

``pybabel extract`` only finds string literals, so without this list these values would
never reach messages.pot and ``pybabel update`` would drop their translations. This module
is never imported by the app; babel.cfg scans it because it matches ``app/**.py``.
tests/test_i18n.py checks that every value of the model enums below is translated.
"""

from flask_babel import lazy_gettext as _l

DATA_MSGIDS = (
    # Role (current_user.role in base.html)
    _l("admin"),
    _l("manager"),
    _l("sales"),
    _l("marketer"),
    # ConsentStatus (consent history, contact filters)
    _l("unknown"),
    _l("granted"),
    _l("opted_out"),
    # ConsentBasis
    _l("consent"),
    _l("contract"),
    _l("legitimate_interest"),
    _l("none"),
    # Tier (contact page, tier moves, contact filters)
    _l("one_to_one"),
    _l("one_to_few"),
    _l("broadcast"),
    # RELATIONSHIP_KINDS
    _l("colleague"),
    _l("reports_to"),
    _l("referred_by"),
    _l("knows"),
    _l("follows"),
    # CHANNELS
    _l("email"),
    _l("linkedin"),
    _l("x"),
    _l("facebook"),
    _l("phone"),
    _l("meeting"),
    _l("event"),
    _l("web"),
    _l("shop"),
    # DIRECTIONS
    _l("inbound"),
    _l("outbound"),
    # INTERACTION_KINDS
    _l("message"),
    _l("comment"),
    _l("mention"),
    _l("reaction"),
    _l("share"),
    _l("call"),
    _l("purchase"),
    _l("reply"),
    _l("open"),
    _l("click"),
    _l("view"),
    # Scoring run status (RUN_STATUSES)
    _l("running"),
    _l("done"),
    _l("failed"),
    # Scoring weight keys (run.weights in segments/run.html)
    _l("influence"),
    _l("bridging"),
    _l("engagement"),
    _l("account_value"),
    _l("sentiment"),
    # Campaign kinds, shown as _(campaign.kind.replace("_", " ")) in campaigns/index.html
    # and campaigns/show.html
    _l("tailored"),
    _l("circle"),
    _l("promotion"),
    _l("reserved drop"),
    _l("publication"),
    # CampaignStatus (_(campaign.status), _(c.status))
    _l("draft"),
    _l("scheduled"),
    _l("launching"),
    _l("sending"),
    _l("done"),
    _l("cancelled"),
    # DeliveryStatus (_(d.status) in campaigns/show.html)
    _l("pending"),
    _l("sending"),
    _l("sent"),
    _l("failed"),
    _l("skipped"),
    # SKIP_REASONS (_(d.skip_reason), _(r) in campaigns/show.html)
    _l("opted_out"),
    _l("no_consent"),
    _l("erased"),
    _l("no_address"),
    _l("frequency_cap"),
    _l("cancelled"),
    _l("rejected"),
    # POST_LABELS (_(post.label), _(s.label) in campaigns/calendar.html)
    _l("didactic"),
    _l("argumentative"),
    _l("promotional"),
    # POST_STATUSES (_(post.status) in campaigns/calendar.html)
    _l("planned"),
    _l("published"),
    _l("failed"),
    _l("cancelled"),
    # Contact.tier in the campaign results of health/dashboard.html (_(r.tier)) uses the
    # Tier values listed above.
)
