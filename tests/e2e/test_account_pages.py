"""The account side: sign up / log out / log in, credits and tier, API keys shown once, BYOK keys, and the
dashboard's create / rename / duplicate / delete."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from accounts.models import User
from tests.e2e.conftest import shot
from tests.e2e.ui import PASSWORD, signup


def test_account_keys_and_tiers(page):
    username = signup(page)
    page.goto("/account/")
    expect(page.get_by_test_id("account-username")).to_have_text(username)
    expect(page.get_by_test_id("account-tier")).to_have_text("free")
    expect(page.get_by_test_id("account-credits")).to_have_text(re.compile(r"^\d+$"))

    # a free account is told up front, not offered a form that is refused once sent
    expect(page.get_by_test_id("keys-locked")).to_contain_text("Pro")
    expect(page.get_by_role("button", name="Create key")).to_have_count(0)
    expect(page.get_by_test_id("byok-locked")).to_contain_text("Pro")

    User.objects.filter(username=username).update(tier="pro")
    page.reload()
    expect(page.get_by_test_id("account-tier")).to_have_text("pro")
    page.get_by_label("Key name").fill("ci")
    page.get_by_label("Kind").select_option("queue")
    page.get_by_role("button", name="Create key").click()
    raw = page.get_by_label("New API key").input_value()
    assert raw.startswith("fiz_")
    expect(page.get_by_role("button", name="Copy to clipboard")).to_be_visible()
    expect(page.get_by_role("cell", name="ci", exact=True)).to_be_visible()
    shot(page, "09-account-key-created")
    page.get_by_role("button", name="Done").click()
    expect(page.get_by_label("New API key")).to_have_count(0)  # shown once

    page.get_by_role("combobox", name="Provider").fill("openai")
    page.get_by_label("Key", exact=True).fill("sk-test-1234567890")
    page.get_by_role("button", name="Save key").click()
    expect(page.get_by_text("Key for openai saved.")).to_be_visible()
    expect(page.locator(".plain-list").get_by_text("openai", exact=True)).to_be_visible()

    page.get_by_role("button", name="Revoke").click()
    page.get_by_role("button", name="Revoke", exact=True).click()
    expect(page.get_by_text("No active keys.")).to_be_visible()


def test_dashboard_and_sign_in_again(page):
    username = signup(page)
    page.get_by_label("New pipeline name").fill("Alpha")
    page.get_by_role("button", name="Create pipeline").click()
    page.wait_for_url(re.compile(r"/studio/\d+/$"))
    page.get_by_role("link", name="Back to pipelines").click()

    rows = page.get_by_test_id("pipeline-row")
    expect(rows).to_have_count(1)
    page.get_by_role("button", name="Rename Alpha").click()
    page.get_by_label("New name for Alpha").fill("Beta")
    page.get_by_role("button", name="Save").click()
    expect(rows.first).to_contain_text("Beta")
    page.get_by_role("button", name="Duplicate Beta").click()
    expect(rows).to_have_count(2)
    shot(page, "10-dashboard")
    rows.first.get_by_role("button", name="Delete").click()
    rows.first.get_by_role("button", name="Delete", exact=True).click()
    expect(rows).to_have_count(1)

    page.get_by_role("link", name="Log out").click()
    page.wait_for_url(re.compile(r"/login/$"))
    page.goto("/studio/")
    page.wait_for_url(re.compile(r"/login/\?next="))
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/studio/$"))
    expect(page.get_by_test_id("pipeline-row")).to_have_count(1)
    expect(page.get_by_test_id("header-user")).to_have_text(username)
