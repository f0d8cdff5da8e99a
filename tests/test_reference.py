"""The field reference (``docs/reference.md``) is the schema's, and current."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field

from service.catalog import reference, schema

REPO = Path(__file__).resolve().parents[1]


def test_the_committed_reference_is_what_the_schema_says_now() -> None:
    committed = (REPO / "docs" / "reference.md").read_text("utf-8")
    assert committed == reference.render(), "docs/reference.md is stale: run make reference"


def test_the_reference_names_every_key_an_event_file_may_hold() -> None:
    text = reference.render()
    for key in ["registration.deadline", "organizer.email", "contacts[].phone", "subtitle"]:
        assert f"| `{key}` |" in text
    assert "| `site.uid_domain` | domain name |" in text
    assert (
        "| `feed.refresh` | duration: `30m`, `6h`, `7d`, `2w`, or ISO 8601 `P1D` | `6h` |" in text
    )


def test_a_key_without_a_meaning_stops_the_reference() -> None:
    class Grown(schema.SiteSpec):
        colour: str = "green"

    meanings = {"title": "Its title.", "base_url": "Its URL.", "timezone": "Its zone."}
    with pytest.raises(LookupError, match="^colour: no meaning given"):
        reference._table(Grown, meanings)


def test_a_key_described_in_the_schema_needs_no_meaning_here() -> None:
    class Grown(schema.OrganizerSpec):
        colour: str = Field(default="green", description="Its colour.")

    rows = reference._table(
        Grown,
        {
            k.removeprefix("organizer."): v
            for k, v in reference.EVENT.items()
            if k.startswith("organizer.")
        },
    )
    assert rows[-1] == "| `colour` | text | `green` | Its colour. |"


def test_a_meaning_without_its_key_stops_the_reference() -> None:
    with pytest.raises(LookupError, match="no such key in the schema: site.colour"):
        reference._table(schema.ConfigSpec, {**reference.CONFIG, "site.colour": "Green."})
