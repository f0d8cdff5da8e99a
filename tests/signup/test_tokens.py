"""Signed tokens in mailed links, and the key that signs them.

A token names one subscriber for one purpose; it cannot be forged, altered, used for another
purpose or (where a maximum age is asked for) used late. The key comes from
``CALFEED_SECRET_KEY`` or is generated once into ``var/secret_key``, readable by its owner
only, so links mailed before a restart keep working after it.
"""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time

from service import create_app
from service.tokens import TokenError, Tokens, secret_key

from .conftest import live

KEY = "a key only this site knows"
PURPOSES = ("confirm", "manage", "unsubscribe", "feed")


@pytest.mark.parametrize("purpose", PURPOSES)
def test_a_token_names_its_subscriber_for_its_purpose(purpose: str) -> None:
    tokens = Tokens(KEY)

    token = tokens.make(purpose, 42)

    assert tokens.check(purpose, token) == 42
    assert Tokens(KEY).check(purpose, token) == 42  # another process with the same key
    assert tokens.check(purpose, tokens.make(purpose, 7)) == 7
    assert tokens.make(purpose, 42) != tokens.make(purpose, 43)


@pytest.mark.parametrize("made_for", PURPOSES)
def test_a_token_is_refused_for_any_other_purpose(made_for: str) -> None:
    tokens = Tokens(KEY)
    token = tokens.make(made_for, 42)

    for used_for in PURPOSES:
        if used_for == made_for:
            continue
        with pytest.raises(TokenError, match="^this link is not valid$"):
            tokens.check(used_for, token)


def test_an_altered_or_foreign_token_is_refused() -> None:
    tokens = Tokens(KEY)
    token = tokens.make("unsubscribe", 42)
    payload, stamp, signature = token.split(".")
    other = Tokens(KEY).make("unsubscribe", 43).split(".")[0]

    altered = {
        "signature": f"{payload}.{stamp}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}",
        "subscriber": f"{other}.{stamp}.{signature}",
        "timestamp": f"{payload}.{stamp[:-1]}{'B' if stamp[-1] == 'A' else 'A'}.{signature}",
        "cut short": token[:-3],
        "other key": Tokens("another site's key").make("unsubscribe", 42),
        "empty": "",
        "not a token": "unsubscribe-42",
    }

    for how, forged in altered.items():
        with pytest.raises(TokenError, match="^this link is not valid$"):
            tokens.check("unsubscribe", forged)
            pytest.fail(f"{how}: accepted")


def test_a_token_expires_after_its_maximum_age_only() -> None:
    tokens = Tokens(KEY)
    day = 24 * 3600
    with freeze_time("2030-03-02 12:00:00") as clock:
        token = tokens.make("confirm", 42)
        clock.tick(timedelta(hours=71, minutes=59))
        assert tokens.check("confirm", token, 3 * day) == 42
        clock.tick(timedelta(minutes=2))  # 72 h and 1 min after it was made

        with pytest.raises(TokenError, match="^this link has expired$"):
            tokens.check("confirm", token, 3 * day)
        assert tokens.check("confirm", token) == 42  # without a maximum age it stays good
        clock.tick(timedelta(days=3650))
        assert tokens.check("unsubscribe", tokens.make("unsubscribe", 42)) == 42
        assert tokens.check("confirm", token) == 42


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
    before = create_app(project / "config.yaml", {"WATCH": False})
    token = before.extensions["calfeed.tokens"].make("unsubscribe", 1)
    live(before).close()

    after = create_app(project / "config.yaml", {"WATCH": False})
    try:
        assert after.extensions["calfeed.tokens"].check("unsubscribe", token) == 1
        key = project / "var" / "secret_key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert after.config["SECRET_KEY"] == key.read_text(encoding="ascii").strip()
    finally:
        live(after).close()


def test_the_app_signs_with_the_key_from_the_environment(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALFEED_SECRET_KEY", KEY)

    app = create_app(project / "config.yaml", {"WATCH": False})
    try:
        token = app.extensions["calfeed.tokens"].make("manage", 5)
        assert Tokens(KEY).check("manage", token) == 5
        assert app.config["SECRET_KEY"] == KEY
        assert not (project / "var" / "secret_key").exists()
    finally:
        live(app).close()
