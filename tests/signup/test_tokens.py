"""Signed tokens in mailed links, and the key that signs them.

A token names one subscription (a subscriber and the generation of their subscription) for
one purpose; it cannot be forged, altered, used for another purpose or used after the
lifetime of its purpose. The key comes from
``CALFEED_SECRET_KEY`` or is generated once into ``var/secret_key``, readable by its owner
only, so links mailed before a restart keep working after it.
"""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time

from service import open_app
from service.tokens import LIFETIMES, Ticket, TokenError, Tokens, secret_key

from .conftest import live

KEY = "a key only this site knows"
PURPOSES = ("confirm", "manage", "unsubscribe", "feed")


@pytest.mark.parametrize("purpose", PURPOSES)
def test_a_token_names_its_subscriber_for_its_purpose(purpose: str) -> None:
    tokens = Tokens(KEY)

    token = tokens.make(purpose, 42, 1)

    assert tokens.check(purpose, token) == Ticket(42, 1)
    assert Tokens(KEY).check(purpose, token) == Ticket(42, 1)  # another process, same key
    assert tokens.check(purpose, tokens.make(purpose, 7, 3)) == Ticket(7, 3)
    assert tokens.make(purpose, 42, 1) != tokens.make(purpose, 43, 1)
    assert tokens.make(purpose, 42, 1) != tokens.make(purpose, 42, 2)


@pytest.mark.parametrize("made_for", PURPOSES)
def test_a_token_is_refused_for_any_other_purpose(made_for: str) -> None:
    tokens = Tokens(KEY)
    token = tokens.make(made_for, 42, 1)

    for used_for in PURPOSES:
        if used_for == made_for:
            continue
        with pytest.raises(TokenError, match="^this link is not valid$"):
            tokens.check(used_for, token)


def test_an_altered_or_foreign_token_is_refused() -> None:
    tokens = Tokens(KEY)
    token = tokens.make("unsubscribe", 42, 2)
    payload, stamp, signature = token.split(".")
    other = Tokens(KEY).make("unsubscribe", 43, 2).split(".")[0]
    earlier = Tokens(KEY).make("unsubscribe", 42, 3).split(".")[0]

    altered = {
        "signature": f"{payload}.{stamp}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}",
        "subscriber": f"{other}.{stamp}.{signature}",
        "generation": f"{earlier}.{stamp}.{signature}",
        "timestamp": f"{payload}.{stamp[:-1]}{'B' if stamp[-1] == 'A' else 'A'}.{signature}",
        "cut short": token[:-3],
        "other key": Tokens("another site's key").make("unsubscribe", 42, 2),
        "empty": "",
        "not a token": "unsubscribe-42",
    }

    for how, forged in altered.items():
        with pytest.raises(TokenError, match="^this link is not valid$"):
            tokens.check("unsubscribe", forged)
            pytest.fail(f"{how}: accepted")


@pytest.mark.parametrize(
    ("purpose", "lifetime"),
    [
        ("confirm", timedelta(hours=72)),
        ("manage", timedelta(days=90)),
        ("unsubscribe", timedelta(days=365)),
    ],
)
def test_a_token_works_for_the_lifetime_of_its_purpose_and_not_after(
    purpose: str, lifetime: timedelta
) -> None:
    tokens = Tokens(KEY)
    with freeze_time("2030-03-02 12:00:00") as clock:
        token = tokens.make(purpose, 42, 1)
        clock.tick(lifetime - timedelta(minutes=1))
        assert tokens.check(purpose, token) == Ticket(42, 1)
        clock.tick(timedelta(minutes=2))  # a minute past its lifetime

        with pytest.raises(TokenError, match="^this link has expired$"):
            tokens.check(purpose, token)
        assert tokens.check(purpose, tokens.make(purpose, 42, 1)) == Ticket(42, 1)


def test_a_personal_feed_token_lasts_as_long_as_its_subscription() -> None:
    tokens = Tokens(KEY)
    assert LIFETIMES["feed"] is None
    with freeze_time("2030-03-02 12:00:00") as clock:
        token = tokens.make("feed", 42, 1)
        clock.tick(timedelta(days=3650))  # a calendar client polls one address for years

        assert tokens.check("feed", token) == Ticket(42, 1)


def test_a_link_mailed_before_tokens_named_a_generation_names_the_first() -> None:
    from itsdangerous import URLSafeTimedSerializer

    old = URLSafeTimedSerializer(KEY, salt="calfeed").dumps({"p": "unsubscribe", "s": 42})

    assert Tokens(KEY).check("unsubscribe", old) == Ticket(42, 1)
    assert Tokens(KEY).make("unsubscribe", 42, 1) == old  # the first generation's are as before


def test_the_key_comes_from_the_environment_when_set(tmp_path: Path) -> None:
    var = tmp_path / "var"

    assert secret_key(var, {"CALFEED_SECRET_KEY": "from the environment"}) == (
        "from the environment"
    )
    assert not (var / "secret_key").exists()  # nothing written when the operator gave one


def test_the_key_is_generated_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    var = tmp_path / "var"  # not there yet

    first = secret_key(var, {})

    path = var / "secret_key"
    assert path.read_text(encoding="ascii").strip() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert secret_key(var, {}) == first
    assert secret_key(var, {"CALFEED_SECRET_KEY": ""}) == first  # empty means unset
    assert secret_key(tmp_path / "elsewhere", {}) != first  # a new key per installation


def test_an_existing_key_file_is_used_and_never_overwritten(tmp_path: Path) -> None:
    var = tmp_path / "var"
    var.mkdir()
    (var / "secret_key").write_text("the operator's own key\n", encoding="ascii")

    assert secret_key(var, {}) == "the operator's own key"
    assert (var / "secret_key").read_text(encoding="ascii") == "the operator's own key\n"


def test_links_mailed_before_a_restart_work_after_it(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CALFEED_SECRET_KEY", raising=False)
    before = open_app(project / "config.yaml")
    token = before.extensions["calfeed.tokens"].make("unsubscribe", 1, 1)
    live(before).close()

    after = open_app(project / "config.yaml")
    try:
        assert after.extensions["calfeed.tokens"].check("unsubscribe", token) == Ticket(1, 1)
        key = project / "var" / "secret_key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert after.config["SECRET_KEY"] == key.read_text(encoding="ascii").strip()
    finally:
        live(after).close()


def test_the_app_signs_with_the_key_from_the_environment(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALFEED_SECRET_KEY", KEY)

    app = open_app(project / "config.yaml")
    try:
        token = app.extensions["calfeed.tokens"].make("manage", 5, 1)
        assert Tokens(KEY).check("manage", token) == Ticket(5, 1)
        assert app.config["SECRET_KEY"] == KEY
        assert not (project / "var" / "secret_key").exists()
    finally:
        live(app).close()
