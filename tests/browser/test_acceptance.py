"""Issue 5's acceptance scenario, end to end in Chromium against `dlrhub serve --dev`:
sign in, create a WhatsApp DLR webhook (renamed parameters, custom params and headers) while
product-dependent fields appear and disappear, test it against a live HTTPS receiver, save,
send a simulated message, watch its deliveries in the log, break the receiver, retry, recover,
sign out."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.browser import Dashboard, capture, reload_until, sign_in, waba_number
from tests.support.receiver import ReceivedRequest, Reply

pytestmark = pytest.mark.browser

RENAMED = {
    "Transaction ID parameter": "txn",
    "Message ID parameter": "msg_id",
    "Error code parameter": "err",
    "Mobile number parameter": "msisdn",
    "Received time parameter": "received_at",
    "Delivered time parameter": "delivered_at",
    "Read time parameter": "read_at",
    "Status parameter": "state",
}


def test_whatsapp_dlr_webhook_from_form_to_retry(page: Any, dashboard: Dashboard) -> None:
    number = waba_number()
    _, api_key = dashboard.new_account(waba=number)
    receiver = dashboard.receiver
    hook_path = f"/hooks/{uuid.uuid4().hex}"

    page.goto(dashboard.url + "/webhooks")
    sign_in(page, dashboard, api_key)
    expect(page.get_by_test_id("webhooks-empty")).to_contain_text("No DLR or MO webhooks")
    capture(page, "webhooks-empty")

    page.get_by_role("link", name="Add webhook").click()
    page.wait_for_url("**/dashboard/webhooks/new")
    _see_product_dependent_fields(page)
    capture(page, "webhook-new")

    _fill_whatsapp_dlr(page, number, receiver.url_for(hook_path))
    _test_before_saving(page, dashboard, hook_path)

    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/dashboard/webhooks/[0-9a-f-]{36}\?done=created$"))
    webhook_id = page.url.split("/webhooks/")[1].split("?")[0]
    expect(page.get_by_test_id("webhook-config")).to_contain_text(number)
    capture(page, "webhook-details")

    _send_and_watch(page, dashboard, number, hook_path)
    _break_and_retry(page, dashboard)
    _recover_after_outage(page, dashboard, webhook_id, number)

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/dashboard/login\?done=signed-out$"))
    page.goto(dashboard.url + f"/webhooks/{webhook_id}")
    page.wait_for_url(re.compile(r"/dashboard/login\?next="))


def _test_before_saving(page: Any, dashboard: Dashboard, hook_path: str) -> None:
    """Pressing "Test webhook" posts the unsaved form; the live receiver's answer is shown."""
    receiver = dashboard.receiver
    receiver.respond_with(
        Reply(202, body=b'{"accepted": true}', headers={"X-Receiver": "dlr-test"})
    )
    page.get_by_role("button", name="Test webhook").click()
    result = page.get_by_test_id("test-result")
    expect(result.get_by_test_id("test-status")).to_have_text("HTTP 202")
    expect(result.get_by_test_id("test-body")).to_contain_text('{"accepted": true}')
    expect(result.get_by_test_id("test-headers")).to_contain_text("X-Receiver: dlr-test")
    expect(result.get_by_test_id("test-duration")).to_have_text(re.compile(r"^\d+ ms$"))
    tested = receiver.wait_for(1, predicate=lambda r: r.path == hook_path)[0]
    _assert_renamed_request(tested)
    # Nothing was saved, and the form kept every value typed.
    expect(page.get_by_label("Transaction ID parameter")).to_have_value("txn")
    expect(page.get_by_label("Header value")).to_have_value("s3cret")
    capture(page, "webhook-test-result")


def _see_product_dependent_fields(page: Any) -> None:
    product = page.get_by_label("Product", exact=True)
    report = page.get_by_label("Webhook report type")
    waba = page.get_by_label("WABA number")
    mo_option = page.locator("#f-reportType option[value=MO]")
    read_time = page.get_by_label("Read time parameter")

    expect(product).to_have_value("SMS")
    expect(waba).to_be_hidden()
    expect(read_time).to_be_hidden()
    expect(mo_option).to_be_disabled()
    expect(page.get_by_label("Transaction ID parameter")).to_be_visible()

    product.select_option("WHATSAPP")
    expect(waba).to_be_visible()
    expect(read_time).to_be_visible()
    expect(page.get_by_label("Status parameter")).to_be_visible()
    expect(mo_option).to_be_enabled()

    report.select_option("MO")
    expect(page.get_by_label("Text parameter")).to_be_visible()
    expect(page.get_by_label("Message type parameter")).to_be_visible()
    expect(page.get_by_label("Transaction ID parameter")).to_be_hidden()
    expect(read_time).to_be_hidden()

    product.select_option("SMS")  # MO is not offered for SMS: the form falls back to DLR
    expect(report).to_have_value("DLR")
    expect(waba).to_be_hidden()
    expect(page.get_by_label("Text parameter")).to_be_hidden()

    custom_rows = page.locator("#customParams-rows")
    expect(custom_rows).to_be_hidden()
    page.get_by_label("Add custom parameters").check()
    expect(custom_rows).to_be_visible()


def _fill_whatsapp_dlr(page: Any, number: str, url: str) -> None:
    page.get_by_label("Product", exact=True).select_option("WHATSAPP")
    page.get_by_label("Webhook server send method").select_option("JSON")
    page.get_by_label("Webhook report type").select_option("DLR")
    page.get_by_label("WABA number").select_option(number)
    page.get_by_label("Webhook (URL endpoint)").fill(url)
    for label, name in RENAMED.items():
        page.get_by_label(label).fill(name)

    params = page.locator("#customParams-rows")
    params.get_by_label("Parameter name").fill("source")
    params.get_by_label("Parameter value").fill("dashboard")
    params.get_by_role("button", name="Add more").click()
    params.get_by_label("Parameter name").nth(1).fill("tenant")
    params.get_by_label("Parameter value").nth(1).fill("acme")

    page.get_by_label("Add custom headers").check()
    headers = page.locator("#customHeaders-rows")
    headers.get_by_label("Header name").fill("X-Api-Token")
    headers.get_by_label("Header value").fill("s3cret")


def _assert_renamed_request(request: ReceivedRequest) -> None:
    body = request.json()
    assert set(RENAMED.values()) <= set(body), body
    assert body["source"] == "dashboard"
    assert body["tenant"] == "acme"
    assert "transactionId" not in body
    assert request.header("X-Api-Token") == "s3cret"
    assert request.header("webhook-signature", "").startswith("v1,")


def _send_simulated(page: Any, number: str, customer_id: str) -> None:
    page.get_by_role("link", name="Messages").click()
    page.wait_for_url("**/dashboard/messages")
    form = page.locator("form[action$='/messages/send']")
    form.get_by_label("Channel").select_option("WHATSAPP")
    expect(form.get_by_label("Sender (optional)")).to_be_hidden()
    form.get_by_label("Destination (E.164)").fill("+393401234567")
    form.get_by_label("Business number (WhatsApp)").select_option(number)
    form.get_by_label("Your message ID (optional)").fill(customer_id)
    form.get_by_label("Message text").fill("Your order has shipped")
    form.get_by_role("button", name="Send simulated message").click()
    page.wait_for_url(re.compile(r"/dashboard/messages\?customerMessageId=.*done=sent"))
    expect(page.get_by_test_id("message-result")).to_contain_text(customer_id)


def _send_and_watch(page: Any, dashboard: Dashboard, number: str, hook_path: str) -> None:
    """A simulated message sent from the Messages page reaches the receiver, its history
    shows DELIVERED then READ, and both deliveries show up in the log as succeeded."""
    customer_id = f"order-{uuid.uuid4().hex[:8]}"
    _send_simulated(page, number, customer_id)
    delivered = dashboard.receiver.wait_for(
        2, timeout=20, predicate=lambda r: r.path == hook_path and b'"txn"' in r.body
    )
    bodies = [r.json() for r in delivered[1:]]
    assert any(b["txn"] == customer_id and b["state"] == "DELIVERED" for b in bodies), bodies
    reload_until(
        page,
        lambda: "READ" in page.get_by_test_id("status-history").inner_text(),
        "the message reaching READ",
    )
    expect(page.get_by_test_id("message-events")).to_contain_text("succeeded")
    capture(page, "messages-lookup")

    page.get_by_role("link", name="Delivery log").click()
    reload_until(
        page,
        lambda: page.locator("tr[data-status=succeeded]").count() == 2,
        "both deliveries (DELIVERY, READ) succeeded in the log",
    )
    assert page.locator("tr[data-delivery-id]").count() == 2
    capture(page, "deliveries")


def _break_and_retry(page: Any, dashboard: Dashboard) -> None:
    """A broken receiver makes a retried delivery fail (visible with its HTTP 500); mended,
    the next Retry succeeds."""
    dashboard.receiver.default_reply = Reply(500, body=b"receiver is down")
    row = page.locator("tr[data-delivery-id]", has_text="DELIVERY")
    delivery_id = row.get_attribute("data-delivery-id")
    this = page.locator(f"tr[data-delivery-id='{delivery_id}']")
    this.get_by_role("button", name=re.compile("^Retry")).click()
    expect(page.get_by_role("status")).to_contain_text("queued to be sent again")
    reload_until(page, lambda: this.get_attribute("data-status") == "failed", "the retry failing")
    expect(this.get_by_test_id("attempt-count")).to_have_text("2")
    this.get_by_text("Show attempts").click()
    expect(this.locator("details.attempts")).to_contain_text("HTTP 500")
    expect(page.get_by_test_id("health-failing")).to_have_text("1")
    capture(page, "deliveries-failing")

    page.goto(dashboard.url + f"/deliveries/{delivery_id}")
    expect(page.get_by_test_id("attempts-table")).to_contain_text("receiver is down")
    capture(page, "delivery-detail")

    dashboard.receiver.default_reply = Reply(200)
    page.get_by_role("button", name="Retry now").click()
    reload_until(
        page,
        lambda: page.get_by_test_id("attempts-table").locator("tbody tr").count() == 3,
        "the third attempt",
    )
    expect(page.get_by_test_id("attempts-table").locator("tbody tr").nth(2)).to_contain_text(
        "HTTP 200"
    )
    expect(page.get_by_test_id("health-failing")).to_have_text("0")


def _recover_after_outage(page: Any, dashboard: Dashboard, webhook_id: str, number: str) -> None:
    """During an outage a new message's DELIVERY fails (its READ waits for it: a message's
    events arrive in order, docs/ordering.md); Recover requeues it, then both are sent."""
    dashboard.receiver.default_reply = Reply(503, body=b"maintenance")
    customer_id = f"order-{uuid.uuid4().hex[:8]}"
    _send_simulated(page, number, customer_id)
    page.goto(dashboard.url + f"/deliveries?status=failed&webhook={webhook_id}")
    reload_until(
        page,
        lambda: page.locator("tr[data-status=failed]").count() == 1,
        "the second message's DELIVERY failing",
    )
    dashboard.receiver.default_reply = Reply(200)
    page.goto(dashboard.url + f"/webhooks/{webhook_id}")
    page.get_by_role("button", name="Recover").click()
    # (The failing webhook's banner is a status too: the flash is the paragraph.)
    expect(page.locator("p.flash[role=status]")).to_contain_text(
        "1 failed or dead deliveries queued again"
    )
    reload_until(
        page,
        lambda: page.locator("tr[data-status=succeeded]").count() == 4,
        "every delivery succeeded after recovering",
    )
