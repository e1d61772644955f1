"""The Slack fake driven by the real slack_sdk clients (async and sync)."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest
from PIL import Image
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook import WebhookClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.fake_slack import DEFAULT_TOKEN, FakeSlack
from tests.support import REPO

CHANNEL = "C0INCIDENT"


@pytest.fixture
def fake():
    with FakeSlack() as f:
        yield f


@pytest.fixture
def aclient(fake):
    return AsyncWebClient(token=DEFAULT_TOKEN, base_url=fake.url)


def png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (7, 5), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


async def test_post_in_thread_update_ephemeral_and_permalink(fake, aclient):
    parent = await aclient.chat_postMessage(channel=CHANNEL, text="alert: checkout down")
    reply = await aclient.chat_postMessage(channel=CHANNEL, thread_ts=parent["ts"], text="diagnosing...",
                                           blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*x*"}}])
    assert parent["channel"] == CHANNEL and parent["message"]["text"] == "alert: checkout down"
    assert float(reply["ts"]) > float(parent["ts"])
    assert len(parent["ts"].split(".")[1]) == 6
    assert reply["message"]["thread_ts"] == parent["ts"]

    call = fake.last("chat.postMessage")
    assert call.headers["Authorization"] == f"Bearer {DEFAULT_TOKEN}"
    assert call.arg("thread_ts") == parent["ts"]
    assert call.arg("blocks")[0]["type"] == "section"

    updated = await aclient.chat_update(channel=CHANNEL, ts=reply["ts"], text="root cause: OOMKilled")
    assert updated["ts"] == reply["ts"] and updated["message"]["text"] == "root cause: OOMKilled"
    assert fake.last("chat.update").arg("ts") == reply["ts"]
    thread = fake.thread(CHANNEL, parent["ts"])
    assert [m["text"] for m in thread] == ["alert: checkout down", "root cause: OOMKilled"]
    assert thread[0]["reply_count"] == 1 and "edited" in thread[1]

    eph = await aclient.chat_postEphemeral(channel=CHANNEL, user="U0ALICE", text="only you", thread_ts=parent["ts"])
    assert eph["message_ts"] and fake.ephemerals[-1]["user"] == "U0ALICE"
    assert all(m["text"] != "only you" for m in fake.messages(CHANNEL))  # ephemerals are not in the channel

    link = await aclient.chat_getPermalink(channel=CHANNEL, message_ts=reply["ts"])
    assert link["permalink"].endswith(f"/archives/{CHANNEL}/p{reply['ts'].replace('.', '')}"
                                      f"?thread_ts={parent['ts']}&cid={CHANNEL}")

    replies = await aclient.conversations_replies(channel=CHANNEL, ts=parent["ts"])
    assert [m["ts"] for m in replies["messages"]] == [parent["ts"], reply["ts"]]
    got = fake.last("conversations.replies")  # AsyncWebClient sends GET params as a query string
    assert got.http_method == "GET" and got.args["ts"] == parent["ts"] and got.body == b""


async def test_api_errors_in_slack_shape(fake, aclient):
    with pytest.raises(SlackApiError) as err:
        await aclient.chat_update(channel=CHANNEL, ts="1.000000", text="x")
    assert err.value.response["error"] in ("message_not_found", "channel_not_found")
    with pytest.raises(SlackApiError) as err, pytest.warns(UserWarning, match="text"):
        await aclient.chat_postMessage(channel=CHANNEL, text="")
    assert err.value.response["error"] == "no_text"
    fake.add_channel("G0SECRET", "secret", is_private=True, is_member=False)
    with pytest.raises(SlackApiError) as err:
        await aclient.chat_postMessage(channel="G0SECRET", text="hi")
    assert err.value.response["error"] == "not_in_channel"
    human = fake.add_message(CHANNEL, "I wrote this")
    with pytest.raises(SlackApiError) as err:
        await aclient.chat_update(channel=CHANNEL, ts=human["ts"], text="hijack")
    assert err.value.response["error"] == "cant_update_message"


async def test_files_upload_v2_into_thread(fake, aclient):
    parent = await aclient.chat_postMessage(channel=CHANNEL, text="alert")
    png = png_bytes()
    resp = await aclient.files_upload_v2(channel=CHANNEL, thread_ts=parent["ts"], file=png, filename="memory.png",
                                         title="Memory", initial_comment="working set vs limit")
    got = fake.last("files.getUploadURLExternal")
    assert got.arg("filename") == "memory.png" and int(got.arg("length")) == len(png)
    upload = fake.last("upload")
    assert upload.body == png and upload.status == 200 and "Authorization" not in upload.headers
    done = fake.last("files.completeUploadExternal")
    assert done.arg("channel_id") == CHANNEL and done.arg("thread_ts") == parent["ts"]
    assert done.arg("initial_comment") == "working set vs limit"
    fid = resp["file"]["id"]
    assert done.arg("files") == [{"id": fid, "title": "Memory"}]
    assert fake.uploads[fid].data == png and fake.uploads[fid].completed
    share = resp["file"]["shares"]["public"][CHANNEL][0]
    assert share["thread_ts"] == parent["ts"] and resp["file"]["mimetype"] == "image/png"
    thread = fake.thread(CHANNEL, parent["ts"])
    assert thread[-1]["files"][0]["id"] == fid and thread[-1]["text"] == "working set vs limit"


def test_sync_client_form_params_and_upload(fake):
    client = WebClient(token=DEFAULT_TOKEN, base_url=fake.url)
    fake.add_user("U0ALICE", "alice", real_name="Alice Ops", email="alice@example.com")
    fake.add_usergroup("S0ONCALL", "oncall", ["U0ALICE", "U0BOB"])
    fake.add_channel("C0PUBLIC", "payments", is_member=False)
    assert client.auth_test()["user_id"] == fake.bot_user_id
    assert client.users_info(user="U0ALICE")["user"]["profile"]["email"] == "alice@example.com"
    info = fake.last("users.info")  # WebClient sends params as a form body, AsyncWebClient as a query
    assert info.content_type == "application/x-www-form-urlencoded" and info.args["user"] == "U0ALICE"
    assert client.usergroups_users_list(usergroup="S0ONCALL")["users"] == ["U0ALICE", "U0BOB"]
    assert client.conversations_info(channel="C0PUBLIC")["channel"]["is_member"] is False
    assert client.conversations_join(channel="C0PUBLIC")["channel"]["is_member"] is True
    assert client.conversations_join(channel="C0PUBLIC")["warning"] == "already_in_channel"
    with pytest.raises(SlackApiError) as err:
        client.usergroups_users_list(usergroup="S0NOPE")
    assert err.value.response["error"] == "no_such_subteam"
    png = png_bytes()
    resp = client.files_upload_v2(channel="C0PUBLIC", file=png, filename="chart.png")
    assert fake.uploads[resp["file"]["id"]].data == png  # urllib's raw POST body
    assert fake.last("files.completeUploadExternal").content_type == "application/x-www-form-urlencoded"


async def test_views_open(fake, aclient):
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Diagnose"}, "callback_id": "diag",
            "blocks": [{"type": "input", "block_id": "q", "label": {"type": "plain_text", "text": "What"},
                        "element": {"type": "plain_text_input", "action_id": "a"}}]}
    opened = await aclient.views_open(trigger_id="123.456.abc", view=view)
    assert opened["view"]["id"].startswith("V") and opened["view"]["callback_id"] == "diag"
    fake.fail("views.open", error="expired_trigger_id", status=200)
    with pytest.raises(SlackApiError) as err:
        await aclient.views_open(trigger_id="123.456.abc", view=view)
    assert err.value.response["error"] == "expired_trigger_id"


async def test_invalid_missing_token_and_unknown_method(fake):
    bad = AsyncWebClient(token="xoxb-wrong", base_url=fake.url)
    with pytest.raises(SlackApiError) as err:
        await bad.chat_postMessage(channel=CHANNEL, text="x")
    assert err.value.response["error"] == "invalid_auth"
    assert fake.last("chat.postMessage").token == "xoxb-wrong" and not fake.messages(CHANNEL)
    with pytest.raises(SlackApiError) as err:
        await AsyncWebClient(base_url=fake.url).auth_test()
    assert err.value.response["error"] == "not_authed"
    with pytest.raises(SlackApiError) as err:
        await AsyncWebClient(token=DEFAULT_TOKEN, base_url=fake.url).api_call("chat.doesNotExist")
    assert err.value.response["error"] == "unknown_method"


async def test_rate_limit_429_and_retry_handler(fake, aclient):
    fake.fail("chat.postMessage", retry_after=0, times=1)
    with pytest.raises(SlackApiError) as err:
        await aclient.chat_postMessage(channel=CHANNEL, text="x")
    assert err.value.response.status_code == 429 and err.value.response["error"] == "ratelimited"
    assert err.value.response.headers["Retry-After"] == "0"
    # The failure was used up: the next call succeeds.
    assert (await aclient.chat_postMessage(channel=CHANNEL, text="x"))["ok"]

    fake.reset_calls()
    fake.fail("chat.postMessage", retry_after=0, times=1)
    retrying = AsyncWebClient(token=DEFAULT_TOKEN, base_url=fake.url,
                              retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)])
    assert (await retrying.chat_postMessage(channel=CHANNEL, text="after retry"))["ok"]
    assert [c.status for c in fake.calls("chat.postMessage")] == [429, 200]


async def test_upload_failure_and_latency(fake, aclient):
    fake.fail("upload", error="boom", status=500, times=1)
    with pytest.raises(SlackRequestError, match="status: 500"):
        await aclient.files_upload_v2(channel=CHANNEL, file=b"abc", filename="a.txt")
    assert not fake.calls("files.completeUploadExternal")
    fake.set_latency(0.3, "auth.test")
    t0 = time.perf_counter()
    await aclient.auth_test()
    slow = time.perf_counter() - t0
    t0 = time.perf_counter()
    await aclient.conversations_info(channel=CHANNEL)
    fast = time.perf_counter() - t0
    assert slow >= 0.3 and fast < 0.3


async def test_response_url_receiver(fake):
    url = fake.response_url("cmd1")
    resp = await AsyncWebhookClient(url).send(text="only you can see this", response_type="ephemeral")
    assert resp.status_code == 200
    WebhookClient(url).send(text="second", replace_original=True)
    bodies = fake.responses("cmd1")
    assert [b["text"] for b in bodies] == ["only you can see this", "second"]
    assert bodies[0]["response_type"] == "ephemeral"
    assert fake.last("response_url").status == 200
    unknown = await AsyncWebhookClient(url.replace("cmd1", "nope")).send(text="x")
    assert unknown.status_code == 404


def test_standalone_main_serves_and_exposes_calls():
    proc = subprocess.Popen([sys.executable, "-m", "tests.fake_slack", "--token", "xoxb-bench"], cwd=REPO,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/api/")
        assert WebClient(token="xoxb-bench", base_url=url).chat_postMessage(channel=CHANNEL, text="hi")["ok"]
        dump = json.load(urllib.request.urlopen(url.replace("/api/", "/_fake/calls?method=chat.postMessage")))
        assert dump["count"] == 1 and dump["calls"][0]["args"]["text"] == "hi"
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
