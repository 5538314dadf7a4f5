import click


@click.group("contacts", help="Contacts: import and export.")
def contacts_cli() -> None:
    pass
