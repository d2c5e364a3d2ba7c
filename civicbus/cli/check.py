"""``civicbus check KIND VALUE...``: normalise values by the national code standards."""

from __future__ import annotations

import sys

import click

KINDS = ["id-number", "uscc", "division", "phone", "date", "gender", "ethnicity"]


@click.command("check")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("values", nargs=-1, required=True)
def command(kind: str, values: tuple[str, ...]) -> None:
    """Normalise VALUES of KIND by the national standard, or say why each is invalid.

    Exit status 1 when any value is invalid.
    """
    from civicbus.schemas.standards import NORMALIZERS, InvalidValue, division

    normalize = NORMALIZERS[kind.replace("-", "_")]
    invalid = 0
    for value in values:
        try:
            result = normalize(value)
        except InvalidValue as exc:
            invalid += 1
            click.echo(f"{value}\tinvalid: {exc}")
            continue
        extra = ""
        if kind == "division":
            d = division.lookup(result)
            extra = f"\t{d.name or '(not in the shipped table)'}"
            if d.retired:
                extra += f"\tretired, successor {d.successor}: {d.note}"
        click.echo(f"{value}\t{result}{extra}")
    sys.exit(1 if invalid else 0)
