"""Every admin changelist loads; seed_demo creates the demo user and a published demo pipeline."""

import io

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from pipelines.models import Pipeline

pytestmark = pytest.mark.django_db


def test_every_registered_model_has_a_working_changelist(client, make_user):
    call_command("seed_demo", stdout=io.StringIO())
    staff = make_user(is_staff=True, is_superuser=True)
    client.force_login(staff)
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        resp = client.get(url)
        assert resp.status_code == 200, url
        resp = client.get(url, {"q": "x"})
        assert resp.status_code == 200, url


def test_seed_demo_is_idempotent_and_publishes(settings):
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    assert "password" in text and "/api/node/api/fq_" in text
    demo = User.objects.get(username="demo")
    assert demo.credit_balance == 1000 and demo.is_pro
    thumb = Pipeline.objects.get(owner=demo, name="Thumbnail")
    assert thumb.versions.count() == 1
    key = text.split("/api/node/api/")[1].split("/execute")[0]
    assert APIClient().get(f"/api/node/api/{key}/docs").status_code == 200
    out2 = io.StringIO()
    call_command("seed_demo", stdout=out2)
    assert "password" not in out2.getvalue().split("already exists")[0] or "already exists" in out2.getvalue()
    assert Pipeline.objects.filter(owner=demo).count() == len(
        {p.name for p in Pipeline.objects.filter(owner=demo)}
    )
