"""Who a rules version was applied by, also where the system has no name for the user."""

from __future__ import annotations

import getpass
import os

import pytest

from processor.control.publisher import applying_user


def test_the_user_by_name() -> None:
    assert applying_user() == getpass.getuser()


def test_a_user_without_a_name_is_named_by_uid(monkeypatch: pytest.MonkeyPatch) -> None:
    # A container running as an arbitrary uid has no passwd entry and no USER or LOGNAME.
    def nameless() -> str:
        raise OSError("No username set in the environment")

    monkeypatch.setattr(getpass, "getuser", nameless)
    assert applying_user() == f"uid {os.getuid()}"
