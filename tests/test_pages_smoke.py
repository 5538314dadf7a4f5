from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.auth.models import User
from app.contacts import service


def test_pages_render(session: Session, users: dict[str, User], login, client: FlaskClient) -> None:
    manager = users["manager"]
    org = service.create_organization(session, manager, name="Acme Srl", key_account=True)
    c = service.create_contact(
        session,
        manager,
        first_name="Anna",
        last_name="Bianchi",
        email="Anna@Example.it",
        organization_id=org.id,
        tags="vip, fiera",
    )
    session.commit()
    login(manager)
    for url in [
        "/contacts",
        "/contacts?q=anna",
        f"/contacts/{c.id}",
        f"/contacts/{c.id}/edit",
        "/contacts/new",
        "/accounts",
        f"/accounts/{org.id}",
        "/accounts/new",
        f"/contacts/{c.id}/interactions/new",
        f"/contacts/{c.id}/merge",
        "/settings/tokens",
    ]:
        resp = client.get(url)
        assert resp.status_code == 200, (url, resp.get_data(as_text=True)[:2000])
