"""The `alerts:` section and `schedule.full_inventory`: defaults, parsing, bad values, and
that both alert URLs count as secrets."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest
from conftest import SECRETS_ENV, minimal_config

from syncer.config import AlertsConfig, parse_config
from syncer.errors import ConfigError

ENV = {
    **SECRETS_ENV,
    "SYNCER_ALERT_WEBHOOK": "https://hooks.example.test/services/T1/B2/secret-hook",
    "SYNCER_PING_URL": "https://hc-ping.example.test/5f1c-secret-ping",
}


def _with(**sections: Any) -> dict[str, Any]:
    data = minimal_config()
    data.update(sections)
    return data


def test_defaults_without_the_sections() -> None:
    config = parse_config(minimal_config(), env=ENV)
    assert config.alerts == AlertsConfig(None, None, ("failed", "held", "error"), None)
    assert config.schedule.full_inventory == time(3, 30)


def test_a_full_alerts_section() -> None:
    config = parse_config(
        _with(
            alerts={
                "webhook_url": "${SYNCER_ALERT_WEBHOOK}",
                "ping_url": "${SYNCER_PING_URL}",
                "on": ["held"],
                "max_age": "2h",
            },
            schedule={"full_inventory": "22:05"},
        ),
        env=ENV,
    )
    assert config.alerts == AlertsConfig(
        webhook_url=ENV["SYNCER_ALERT_WEBHOOK"],
        ping_url=ENV["SYNCER_PING_URL"],
        on=("held",),
        max_age=7200,
    )
    assert config.schedule.full_inventory == time(22, 5)
    assert ENV["SYNCER_ALERT_WEBHOOK"] in config.secrets()
    assert ENV["SYNCER_PING_URL"] in config.secrets()
    assert config.clear_secrets == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("03:30", time(3, 30), id="quoted"),
        pytest.param(210, time(3, 30), id="yaml-1.1-sexagesimal"),
        pytest.param(None, None, id="null-is-never"),
        pytest.param("0:00", time(0, 0), id="midnight"),
    ],
)
def test_full_inventory_times(value: Any, expected: time | None) -> None:
    config = parse_config(_with(schedule={"full_inventory": value}), env=ENV)
    assert config.schedule.full_inventory == expected


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        pytest.param(
            {"schedule": {"full_inventory": "25:00"}},
            "schedule.full_inventory: must be a time HH:MM, got '25:00' "
            '(write it in quotes, e.g. "03:30", or null for never)',
            id="hour-25",
        ),
        pytest.param(
            {"alerts": {"on": ["held", "drift"]}},
            "alerts.on: unknown value(s) drift (use failed, held, error)",
            id="unknown-trigger",
        ),
        pytest.param(
            {"alerts": {"max_age": "soon"}},
            "alerts.max_age: 'soon' is not an interval (use a number with s, m, h or d, e.g. 15m)",
            id="max-age",
        ),
        pytest.param(
            {"alerts": {"webhook_url": "hooks.example.test/x"}},
            "alerts.webhook_url: 'hooks.example.test/x' is not a URL (use https://...)",
            id="not-a-url",
        ),
        pytest.param(
            {"alerts": {"webhok_url": "${SYNCER_ALERT_WEBHOOK}"}},
            "alerts.webhok_url: unknown key (did you mean 'webhook_url'?)",
            id="typo",
        ),
    ],
)
def test_bad_values_name_the_key_and_the_fix(sections: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_with(**sections), env=ENV)
    assert [str(p) for p in caught.value.problems] == [message]


def test_a_url_in_clear_is_flagged_for_check() -> None:
    config = parse_config(
        _with(alerts={"ping_url": "https://hc-ping.example.test/in-clear"}), env=ENV
    )
    assert config.clear_secrets == ("alerts.ping_url",)


def test_the_bare_yaml_key_on_is_read_as_on(write_config: Any) -> None:
    """YAML 1.1 turns a bare `on:` key into the boolean true; it still means `on`."""
    from syncer.config import load_config

    path = write_config(minimal_config())
    path.write_text(path.read_text() + "alerts:\n  on: [error]\n")
    assert load_config(path, env=ENV).alerts.on == ("error",)
