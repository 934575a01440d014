"""Bot-data blocks parse and format as CV's botdata package did (spec §5.4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from cvmigrate.changelist.botdata import (
    BOT_DATA_PREFIX,
    ZERO_TIME,
    Action,
    BotData,
    BotDataTooLong,
    ChangeID,
    append_bot_data,
    format_bot_data,
    parse_bot_data,
)
from cvmigrate.gerrit.truncate import PLACEHOLDER

AT = datetime(2013, 3, 23, 21, 36, 52, 332000, tzinfo=UTC)
CANCEL = BotData(action=Action.CANCEL, triggered_at=AT, revision="abcd")
CANCEL_JSON = '{"action":"cancel","triggered_at":"2013-03-23T21:36:52.332Z","revision":"abcd"}'


def test_parse_reads_block_after_human_message() -> None:
    message = (
        "human message\n\n"
        'Bot data: {"action":"start","triggered_at":"2013-03-23T21:36:52.332Z",'
        '"revision":"abcd","cls":["chromium-review.googlesource.com:1111",'
        '"chromium-review.googlesource.com:2222"]}'
    )
    assert parse_bot_data(message) == BotData(
        action=Action.START,
        triggered_at=AT,
        revision="abcd",
        cls=(
            ChangeID(host="chromium-review.googlesource.com", number=1111),
            ChangeID(host="chromium-review.googlesource.com", number=2222),
        ),
    )


def test_parse_without_prefix_is_none() -> None:
    assert parse_bot_data('{"action": "start", "revision": "abcdef"}') is None


@pytest.mark.parametrize(
    "tail",
    [
        "I'm a plain string",
        '"cancel"',
        "[]",
        '{"action":"stop","revision":"r"}',
        '{"action":null}',
        '{"revision":"r"}',
        '{"action":"cancel"} trailing text',
        '{"action":"cancel","revision":7}',
        '{"action":"cancel","triggered_at":"2013-03-23 21:36:52Z"}',
        '{"action":"cancel","triggered_at":"2013-03-23T21:36:52"}',
        '{"action":"cancel","triggered_at":"2013-02-30T21:36:52Z"}',
        '{"action":"cancel","triggered_at":"2013-03-23T21:36:52+25:00"}',
        '{"action":"cancel","triggered_at":"0001-01-01T00:00:00+01:00"}',
        '{"action":"cancel","triggered_at":1363}',
        '{"action":"cancel","cls":"h:1"}',
        '{"action":"cancel","cls":{}}',
        '{"action":"cancel","cls":["h:1:2"]}',
        '{"action":"cancel","cls":["h"]}',
        '{"action":"cancel","cls":["h:x"]}',
        '{"action":"cancel","cls":["h:99999999999999999999"]}',
        '{"action":"cancel","extra":NaN}',
        '{"action":"cancel","triggered_at":"\u0662013-03-23T21:36:52Z"}',
        '{"action":"cancel","x":' + "[" * 100_000 + "]" * 100_000 + "}",
    ],
    ids=lambda tail: tail[:60],
)
def test_parse_rejects_invalid_blocks(tail: str) -> None:
    assert parse_bot_data(BOT_DATA_PREFIX + tail) is None


def test_parse_uses_first_prefix_and_whole_rest() -> None:
    message = f"Bot data: {CANCEL_JSON}\n\nBot data: {CANCEL_JSON}"
    assert parse_bot_data(message) is None
    assert parse_bot_data(f"Bot data: {CANCEL_JSON}\n") == CANCEL


def test_parse_defaults_missing_fields_to_go_zero_values() -> None:
    assert parse_bot_data('Bot data: {"action":"cancel"}') == BotData(
        action=Action.CANCEL, triggered_at=ZERO_TIME, revision="", cls=()
    )
    assert parse_bot_data('Bot data: {"action":"cancel","revision":null,"cls":null}') == (
        BotData(action=Action.CANCEL)
    )


def test_parse_ignores_unknown_keys_and_matches_keys_case_insensitively() -> None:
    message = 'Bot data: {"Action":"cancel","REVISION":"abcd","x":{"y":[1]},"triggered_at":null}'
    assert parse_bot_data(message) == BotData(action=Action.CANCEL, revision="abcd")


def test_parse_time_offsets_and_nanoseconds() -> None:
    message = 'Bot data: {"action":"cancel","triggered_at":"2013-03-23T23:36:52.123456789+02:00"}'
    parsed = parse_bot_data(message)
    assert parsed is not None
    assert parsed.triggered_at == datetime(2013, 3, 23, 21, 36, 52, 123456, tzinfo=UTC)


def test_format_matches_go_json() -> None:
    assert format_bot_data(CANCEL) == "Bot data: " + CANCEL_JSON


def test_format_with_cls_and_whole_seconds() -> None:
    bot_data = BotData(
        action=Action.CANCEL,
        triggered_at=datetime(2020, 2, 2, 10, 30, tzinfo=UTC),
        revision="rev",
        cls=(ChangeID(host="g-review", number=33), ChangeID(host="g-review", number=34)),
    )
    assert format_bot_data(bot_data) == (
        'Bot data: {"action":"cancel","triggered_at":"2020-02-02T10:30:00Z",'
        '"revision":"rev","cls":["g-review:33","g-review:34"]}'
    )


def test_format_converts_to_utc_and_escapes_like_go() -> None:
    bot_data = BotData(
        action=Action.START,
        triggered_at=datetime(2020, 2, 2, 11, 30, 0, 500, tzinfo=timezone(timedelta(hours=1))),
        revision="<a&b>",
    )
    assert format_bot_data(bot_data) == (
        'Bot data: {"action":"start","triggered_at":"2020-02-02T10:30:00.0005Z",'
        '"revision":"\\u003ca\\u0026b\\u003e"}'
    )


def test_format_zero_time_like_go() -> None:
    assert '"triggered_at":"0001-01-01T00:00:00Z"' in format_bot_data(BotData(action=Action.CANCEL))


def test_format_rejects_naive_time() -> None:
    naive = BotData(action=Action.CANCEL, triggered_at=datetime(2020, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="naive"):
        format_bot_data(naive)


@pytest.mark.parametrize(
    "bot_data",
    [
        CANCEL,
        BotData(action=Action.START, triggered_at=ZERO_TIME),
        BotData(
            action=Action.CANCEL,
            triggered_at=datetime(2021, 6, 4, 1, 2, 3, 456789, tzinfo=UTC),
            revision="deadbeef",
            cls=(ChangeID(host="h", number=1),),
        ),
    ],
)
def test_format_then_parse_round_trips(bot_data: BotData) -> None:
    assert parse_bot_data("Some text.\n\n" + format_bot_data(bot_data)) == bot_data


def test_append_to_empty_human_message_is_block_alone() -> None:
    assert append_bot_data("", CANCEL) == "Bot data: " + CANCEL_JSON


def test_append_separates_human_message_with_blank_line() -> None:
    assert append_bot_data("Message for human", CANCEL) == (
        "Message for human\n\nBot data: " + CANCEL_JSON
    )


def test_append_truncates_human_message_to_fit() -> None:
    result = append_bot_data(
        "Message for human. But it's way tooooooooooooooooooooooo long", CANCEL, 150
    )
    assert result == "Message for human. But it's" + PLACEHOLDER + "\n\nBot data: " + CANCEL_JSON
    assert len(result.encode()) == 150


def test_append_cuts_human_message_on_code_point() -> None:
    result = append_bot_data("€" * 100, CANCEL, 150)
    human = result.split("\n...")[0]
    assert human == "€" * 9  # 27 bytes fit, a 10th euro would need 30
    assert len(result.encode()) <= 150


def test_append_rejects_block_longer_than_limit() -> None:
    with pytest.raises(BotDataTooLong, match="bot data too long; max length: 10"):
        append_bot_data("", CANCEL, 10)


def test_append_rejects_when_no_room_for_human_message() -> None:
    with pytest.raises(BotDataTooLong, match="too long to display human message"):
        append_bot_data("Message for human", CANCEL, 100)


def test_append_default_limit_is_gerrit_limit() -> None:
    result = append_bot_data("x" * 20000, CANCEL)
    assert len(result.encode()) == 16384
    assert parse_bot_data(result) == CANCEL


def test_change_id_text_form() -> None:
    assert str(ChangeID(host="g-review", number=33)) == "g-review:33"
    assert ChangeID.parse("g-review:33") == ChangeID(host="g-review", number=33)
    assert ChangeID.parse("h:-5").number == -5
    with pytest.raises(ValueError, match="invalid change ID"):
        ChangeID.parse("g-review:33:1")
