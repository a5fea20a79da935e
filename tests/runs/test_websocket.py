"""WebSocket /ws/runs/<id>/: every event in order, replay for late subscribers, auth."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from accounts import services
from config.asgi import application
from runs.engine import execute_run
from runs.models import RunEvent
from tests.runs.test_engine import chain, submit

pytestmark = pytest.mark.django_db(transaction=True)


def token_for(user):
    return services.issue_tokens(user)[0]


async def receive_until_done(comm, limit=50):
    messages = []
    for _ in range(limit):
        msg = await comm.receive_json_from(timeout=5)
        messages.append(msg)
        if msg["type"] in ("run.completed", "run.failed", "run.cancelled", "run.blocked"):
            break
    return messages


def test_live_subscriber_gets_every_event_in_order(make_user):
    user = make_user(credits_amount=50)
    run = submit(user, chain("TEST__GATE"), text="fine")
    token = token_for(user)

    async def scenario():
        comm = WebsocketCommunicator(application, f"/ws/runs/{run.pk}/?token={token}")
        connected, _ = await comm.connect()
        assert connected
        await database_sync_to_async(execute_run)(run.pk)
        messages = await receive_until_done(comm)
        await comm.disconnect()
        return messages

    messages = async_to_sync(scenario)()
    expected = list(RunEvent.objects.filter(run=run).order_by("id").values_list("id", "type"))
    assert [(m["id"], m["type"]) for m in messages] == expected
    assert messages[-1]["type"] == "run.completed"


def test_late_subscriber_replays_from_event_id(make_user):
    user = make_user(credits_amount=50)
    run = submit(user, chain("TEST__GATE"), text="fine")
    execute_run(run.pk)
    events = list(RunEvent.objects.filter(run=run).order_by("id"))
    middle = events[3].pk
    token = token_for(user)

    async def scenario():
        comm = WebsocketCommunicator(application, f"/ws/runs/{run.pk}/?token={token}&after={middle}")
        connected, _ = await comm.connect()
        assert connected
        messages = await receive_until_done(comm)
        await comm.disconnect()
        return messages

    messages = async_to_sync(scenario)()
    assert [m["id"] for m in messages] == [e.pk for e in events[4:]]


def test_strangers_and_anonymous_are_refused(make_user):
    owner = make_user(credits_amount=50)
    run = submit(owner, chain("TEST__GATE"))
    stranger = make_user()

    async def attempt(query):
        comm = WebsocketCommunicator(application, f"/ws/runs/{run.pk}/{query}")
        connected, code = await comm.connect()
        await comm.disconnect()
        return connected, code

    stranger_token = token_for(stranger)
    assert async_to_sync(attempt)(f"?token={stranger_token}") == (False, 4403)
    assert async_to_sync(attempt)("") == (False, 4403)
    assert async_to_sync(attempt)("?token=garbage")[0] is False
