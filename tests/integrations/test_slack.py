"""Slack client against the sandbox over real HTTP, and Events API request verification."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest
from slack_sdk.signature import Clock

from core.settings import Settings
from integrations.errors import (
    AuthenticationError,
    PermanentIntegrationError,
    RateLimitedError,
    RetryableIntegrationError,
    WebhookVerificationError,
)
from integrations.slack import SlackClient, SlackRequestVerifier
from sandbox.control import SandboxControl, SandboxControlError

CHANNEL = "C0PRODUCT"
CHECKOUT_TS = "1718010000.000100"
PLANNING_TS = "1718020000.000100"


@pytest.fixture
async def slack(sandbox_settings: Settings):
    client = SlackClient.from_settings(sandbox_settings)
    yield client
    await client.aclose()


async def test_fetch_thread_returns_parent_then_replies(slack: SlackClient) -> None:
    thread = await slack.fetch_thread(CHANNEL, CHECKOUT_TS)
    assert thread.messages[0].ts == CHECKOUT_TS
    assert len(thread.messages) == 7
    assert all(m.thread_ts == CHECKOUT_TS for m in thread.messages[1:])
    assert "SEPA" in thread.messages[0].text


async def test_fetch_thread_follows_the_cursor_across_pages(
    sandbox_settings: Settings, control: SandboxControl
) -> None:
    client = SlackClient(token="xoxb-test", base_url=sandbox_settings.service_base_url("slack"), timeout=2, page_size=7)
    try:
        thread = await client.fetch_thread(CHANNEL, PLANNING_TS)
    finally:
        await client.aclose()
    assert len(thread.messages) == 30
    assert len({m.ts for m in thread.messages}) == 30
    assert await control.call_count("slack", "conversations.replies") == 5  # 7+7+7+7+2


async def test_unknown_thread_is_a_permanent_error(slack: SlackClient) -> None:
    with pytest.raises(PermanentIntegrationError) as caught:
        await slack.fetch_thread(CHANNEL, "1.000000")
    assert caught.value.code == "thread_not_found"


async def test_post_reply_twice_with_the_same_key_posts_once(slack: SlackClient, control: SandboxControl) -> None:
    first = await slack.post_reply(CHANNEL, CHECKOUT_TS, "Created 3 tasks", key="discussion-1")
    second = await slack.post_reply(CHANNEL, CHECKOUT_TS, "Created 3 tasks", key="discussion-1")
    other = await slack.post_reply(CHANNEL, CHECKOUT_TS, "Created 1 task", key="discussion-2")
    assert first.created and not second.created and other.created
    assert second.ts == first.ts != other.ts
    posted = await control.created("slack", "messages")
    assert [m["metadata"]["event_payload"]["key"] for m in posted] == ["discussion-1", "discussion-2"]
    assert posted[0]["thread_ts"] == CHECKOUT_TS


async def test_reply_lost_after_the_write_is_found_on_retry(slack: SlackClient, control: SandboxControl) -> None:
    await control.set_fault("slack", "chat.postMessage", fail_after_write="error", times=1)
    with pytest.raises(RetryableIntegrationError):
        await slack.post_reply(CHANNEL, CHECKOUT_TS, "Done", key="discussion-9")
    retried = await slack.post_reply(CHANNEL, CHECKOUT_TS, "Done", key="discussion-9")
    assert retried.created is False
    assert len(await control.created("slack", "messages")) == 1


async def test_reply_whose_answer_never_comes_times_out_then_is_found(
    slack: SlackClient, control: SandboxControl
) -> None:
    await control.set_fault("slack", "chat.postMessage", fail_after_write="hang", times=1)
    started = time.monotonic()
    with pytest.raises(RetryableIntegrationError):
        await slack.post_reply(CHANNEL, CHECKOUT_TS, "Done", key="discussion-hang")
    assert time.monotonic() - started < 10
    retried = await slack.post_reply(CHANNEL, CHECKOUT_TS, "Done", key="discussion-hang")
    assert retried.created is False
    assert len(await control.created("slack", "messages")) == 1


async def test_rate_limit_carries_retry_after(slack: SlackClient, control: SandboxControl) -> None:
    await control.set_fault("slack", "conversations.replies", rate_limit_rate=1.0, retry_after=7, times=1)
    with pytest.raises(RateLimitedError) as caught:
        await slack.fetch_thread(CHANNEL, CHECKOUT_TS)
    assert caught.value.retry_after == 7
    assert caught.value.status == 429
    assert (await slack.fetch_thread(CHANNEL, CHECKOUT_TS)).messages  # the fault fired once only


async def test_server_error_is_retryable(slack: SlackClient, control: SandboxControl) -> None:
    await control.set_fault("slack", "*", error_rate=1.0, times=1)
    with pytest.raises(RetryableIntegrationError) as caught:
        await slack.fetch_thread(CHANNEL, CHECKOUT_TS)
    assert caught.value.kind == "retryable"


async def test_revoked_token_is_an_authentication_error(slack: SlackClient, control: SandboxControl) -> None:
    await control.revoke_token("slack", "xoxb-sandbox")
    with pytest.raises(AuthenticationError) as caught:
        await slack.fetch_thread(CHANNEL, CHECKOUT_TS)
    assert caught.value.kind == "permanent"
    assert caught.value.code == "invalid_auth"


async def test_unknown_channel_is_permanent(slack: SlackClient) -> None:
    with pytest.raises(PermanentIntegrationError) as caught:
        await slack.post_reply("C0NOPE", CHECKOUT_TS, "hi", key="k")
    assert caught.value.code == "channel_not_found"


async def test_reactions_are_idempotent(slack: SlackClient, control: SandboxControl) -> None:
    await slack.add_reaction(CHANNEL, CHECKOUT_TS, "eyes")
    await slack.add_reaction(CHANNEL, CHECKOUT_TS, "eyes")
    await slack.remove_reaction(CHANNEL, CHECKOUT_TS, "eyes")
    await slack.remove_reaction(CHANNEL, CHECKOUT_TS, "eyes")
    await slack.add_reaction(CHANNEL, CHECKOUT_TS, "white_check_mark")
    assert [r["name"] for r in await control.created("slack", "reactions")] == ["eyes", "white_check_mark"]
    parent = (await slack.fetch_thread(CHANNEL, CHECKOUT_TS)).messages[0]
    assert parent.ts == CHECKOUT_TS


# --- Events API request verification -------------------------------------------------------
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BODY = b'{"type":"event_callback","event":{"type":"app_mention","text":"hi"}}'


class FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def signed_headers(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """Sign as Slack documents it, independently of the SDK."""
    base = f"v0:{timestamp}:".encode() + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


def test_correctly_signed_request_is_accepted() -> None:
    now = 1_718_000_000
    SlackRequestVerifier(SECRET, clock=FixedClock(now)).verify(BODY, signed_headers(SECRET, BODY, now - 10))


def test_request_signed_with_the_wrong_secret_is_refused() -> None:
    now = 1_718_000_000
    with pytest.raises(WebhookVerificationError, match="signature"):
        SlackRequestVerifier(SECRET, clock=FixedClock(now)).verify(BODY, signed_headers("other-secret", BODY, now))


def test_request_with_a_changed_body_is_refused() -> None:
    now = 1_718_000_000
    headers = signed_headers(SECRET, BODY, now)
    with pytest.raises(WebhookVerificationError, match="signature"):
        SlackRequestVerifier(SECRET, clock=FixedClock(now)).verify(BODY.replace(b"hi", b"HI"), headers)


def test_request_older_than_five_minutes_is_refused_even_if_signed() -> None:
    now = 1_718_000_000
    headers = signed_headers(SECRET, BODY, now - 301)
    with pytest.raises(WebhookVerificationError, match="replay"):
        SlackRequestVerifier(SECRET, clock=FixedClock(now)).verify(BODY, headers)


def test_request_without_signature_headers_is_refused() -> None:
    with pytest.raises(WebhookVerificationError, match="lacks"):
        SlackRequestVerifier(SECRET).verify(BODY, {})


def test_sign_produces_headers_the_verifier_accepts() -> None:
    verifier = SlackRequestVerifier(SECRET)
    verifier.verify(BODY, verifier.sign(BODY, int(time.time())))


async def test_a_thread_posted_by_people_is_read_back_whole(slack: SlackClient, control: SandboxControl) -> None:
    """The sandbox's control API posts a new thread (as people would); the SDK reads it like any."""
    thread_id = await control.post_slack_thread(
        "C0SUPPORT", [("U0DANA", "The export button does nothing."), ("U0BOB", "Can you check the logs, Carol?")]
    )
    channel, ts = thread_id.split(":")
    thread = await slack.fetch_thread(channel, ts)
    assert [(m.user, m.text) for m in thread.messages] == [
        ("U0DANA", "The export button does nothing."),
        ("U0BOB", "Can you check the logs, Carol?"),
    ]
    assert thread.messages[0].ts == ts and thread.messages[1].thread_ts == ts
    other = await control.post_slack_thread("C0SUPPORT", [("U0ALICE", "Another thread.")])
    assert other != thread_id and len((await slack.fetch_thread(*other.split(":"))).messages) == 1
    with pytest.raises(SandboxControlError, match="users among"):
        await control.post_slack_thread("C0SUPPORT", [("U0NOBODY", "who?")])


async def test_user_names_are_the_names_slack_shows_and_read_once(slack: SlackClient, control: SandboxControl) -> None:
    names = await slack.user_names(["U0BOB", "U0CAROL", "U0BOB", "U0NOSUCH"])
    assert names == {"U0BOB": "bob", "U0CAROL": "carol"}  # profile.display_name; an unknown id left out
    assert await slack.user_names(["U0CAROL", "U0NOSUCH"]) == {"U0CAROL": "carol"}
    assert await control.call_count("slack", "users.info") == 3  # each id once, the unknown one too
