"""Managing webhooks in the browser: the delivery-status webhook, validation errors shown in
place, edit and delete; and what is refused (another account's webhook, a form without its
CSRF token)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.browser import Dashboard, capture, sign_in

pytestmark = pytest.mark.browser


def test_delivery_status_webhook_is_listed_and_editable(page: Any, dashboard: Dashboard) -> None:
    _, api_key = dashboard.new_account()
    sign_in(page, dashboard, api_key)
    page.get_by_role("link", name="Set up delivery-status webhook").click()
    page.get_by_label("Callback URL").fill("not a url")
    page.get_by_role("button", name="Save").click()
    url_input = page.get_by_label("Callback URL")
    expect(url_input).to_have_value("not a url")
    expect(url_input).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-callbackUrl-error")).to_be_visible()
    capture(page, "delivery-status-form-error")

    first = dashboard.receiver.url_for("/status-a")
    url_input.fill(first)
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/dashboard/webhooks/delivery-status\?done=created$"))
    expect(page.get_by_test_id("webhook-config")).to_contain_text(first)
    capture(page, "delivery-status-details")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
    row = page.locator("tr[data-webhook-id=delivery-status]")
    expect(row).to_contain_text(first)
    row.get_by_role("link", name="Edit the delivery-status webhook").click()
    second = dashboard.receiver.url_for("/status-b")
    page.get_by_label("Callback URL").fill(second)
    capture(page, "delivery-status-form")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_test_id("webhook-config")).to_contain_text(second)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete the delivery-status webhook").click()
    page.wait_for_url(re.compile(r"/dashboard/webhooks\?done=deleted$"))
    expect(row).to_have_count(0)
    expect(page.get_by_role("link", name="Set up delivery-status webhook")).to_be_visible()


def test_errors_shown_in_place_then_edit_and_delete(page: Any, dashboard: Dashboard) -> None:
    _, api_key = dashboard.new_account()
    sign_in(page, dashboard, api_key)
    _submit_invalid_webhook(page, dashboard)

    page.get_by_label("Webhook (URL endpoint)").fill(dashboard.receiver.url_for("/sms-dlr"))
    page.get_by_label("Transaction ID parameter").fill("ref")
    page.get_by_label("Header name").fill("X-Tenant")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/dashboard/webhooks/[0-9a-f-]{36}\?done=created$"))
    webhook_id = page.url.split("/webhooks/")[1].split("?")[0]

    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.get_by_label("Transaction ID parameter")).to_have_value("ref")
    expect(page.get_by_label("WABA number")).to_be_hidden()
    capture(page, "webhook-edit")
    page.get_by_label("Webhook server send method").select_option("GET")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(re.compile(rf"/dashboard/webhooks/{webhook_id}\?done=saved$"))
    expect(page.get_by_test_id("webhook-config")).to_contain_text("GET (query string)")

    # The API and the dashboard share one state: a delivery-status webhook set over the API
    # is listed with the richer webhook.
    made = page.request.post(
        dashboard.server.base_url + "/api/partner-gateway/v1/webhooks/delivery-status",
        data={"callbackUrl": dashboard.receiver.url_for("/all-events")},
        headers={"X-Api-Key": api_key},
    )
    assert made.status == 201
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
    expect(page.locator("tr[data-webhook-id=delivery-status]")).to_contain_text("/all-events")
    row = page.locator(f"tr[data-webhook-id='{webhook_id}']")
    expect(row).to_contain_text("SMS")
    expect(row).to_contain_text("DLR")
    expect(row).to_contain_text("GET")
    capture(page, "webhooks")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=re.compile("^Delete webhook")).click()
    page.wait_for_url(re.compile(r"/dashboard/webhooks\?done=deleted$"))
    expect(row).to_have_count(0)
    expect(page.get_by_test_id("webhooks-empty")).to_be_visible()
    capture(page, "webhooks-only-delivery-status")


def _submit_invalid_webhook(page: Any, dashboard: Dashboard) -> None:
    """The service's field errors appear next to their inputs, with the typed values kept."""
    page.goto(dashboard.url + "/webhooks/new")
    page.get_by_label("Webhook server send method").select_option("XML")
    page.get_by_label("Webhook (URL endpoint)").fill("ftp://example.com/x")
    page.get_by_label("Transaction ID parameter").fill("1bad name")
    page.get_by_label("Add custom headers").check()
    page.get_by_label("Header name").fill("Content-Type")
    page.get_by_label("Header value").fill("text/plain")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#error-summary")).to_be_visible()
    expect(page.locator("#f-url-error")).to_be_visible()
    expect(page.locator("#f-parameters-transactionId-error")).to_contain_text("XML element name")
    expect(page.locator("#f-customHeaders-Content-Type-error")).to_contain_text(
        "cannot be replaced"
    )
    expect(page.get_by_label("Webhook (URL endpoint)")).to_have_value("ftp://example.com/x")
    expect(page.get_by_label("Header name")).to_have_value("Content-Type")
    expect(page.get_by_label("Webhook server send method")).to_have_value("XML")
    capture(page, "webhook-form-errors")


def test_other_accounts_webhook_and_forged_forms_are_refused(
    page: Any, dashboard: Dashboard
) -> None:
    _, owner_key = dashboard.new_account()
    _, other_key = dashboard.new_account()
    sign_in(page, dashboard, owner_key)
    page.goto(dashboard.url + "/webhooks/new")
    page.get_by_label("Webhook (URL endpoint)").fill(dashboard.receiver.url_for("/owned"))
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/dashboard/webhooks/[0-9a-f-]{36}\?done=created$"))
    webhook_id = page.url.split("/webhooks/")[1].split("?")[0]
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, dashboard, other_key)
    for path in (f"/webhooks/{webhook_id}", f"/webhooks/{webhook_id}/edit"):
        response = page.goto(dashboard.url + path)
        assert response is not None
        assert response.status == 404
        expect(page.get_by_role("heading", level=1)).to_contain_text("Not found")
    capture(page, "not-found")
    csrf = page.locator("form.signout input[name=csrf_token]").input_value()
    deleted = page.request.post(
        dashboard.url + f"/webhooks/{webhook_id}/delete", form={"csrf_token": csrf}
    )
    assert deleted.status == 404

    forged = page.request.post(
        dashboard.url + "/messages/send",
        form={"channel": "SMS", "destination": "+393401234567", "body": "forged"},
    )
    assert forged.status == 403
    wrong = page.request.post(
        dashboard.url + "/webhooks/delivery-status/edit",
        form={"csrf_token": uuid.uuid4().hex, "callbackUrl": "https://example.com/x"},
    )
    assert wrong.status == 403
    page.goto(dashboard.url + "/webhooks")
    expect(page.locator("tr[data-webhook-id=delivery-status]")).to_have_count(0)
