"""Function URLs as the local stack serves them: which functions have one, the payload 2.0 event a request
becomes, and the HTTP answer a function's reply becomes (as Lambda's function URLs do)."""

from __future__ import annotations

import base64
import json

from cio_sync.handlers.reporting_webhook import request_body
from cio_sync_local.deploy import drop_outputs_moto_cannot_read
from cio_sync_local.function_urls import http_answer, url_event, url_targets

TEMPLATE = {
    "Resources": {
        "Receiver": {"Type": "AWS::Lambda::Function", "Properties": {}},
        "ReceiverUrl": {
            "Type": "AWS::Lambda::Url",
            "Properties": {"AuthType": "NONE", "TargetFunctionArn": {"Ref": "Receiver"}},
        },
    },
    "Outputs": {
        "ReceiverEndpoint": {"Value": {"Fn::GetAtt": ["ReceiverUrl", "FunctionUrl"]}},
        "Other": {"Value": {"Ref": "Receiver"}},
    },
}


def test_each_url_names_its_function_and_the_outputs_that_read_it() -> None:
    [target] = url_targets(TEMPLATE)
    assert (target.url_id, target.function_id, target.outputs) == (
        "ReceiverUrl",
        "Receiver",
        ("ReceiverEndpoint",),
    )


def test_the_url_outputs_are_known_before_they_are_dropped_for_moto() -> None:
    template = json.loads(json.dumps(TEMPLATE))
    targets = url_targets(template)
    drop_outputs_moto_cannot_read(template)
    assert list(template["Outputs"]) == ["Other"]
    assert targets[0].outputs == ("ReceiverEndpoint",)


def test_a_request_becomes_a_payload_2_event_the_receiver_reads_byte_for_byte() -> None:
    body = '{"event_id":"e-1","name":"Zoë"}'.encode()
    event = url_event(
        "POST",
        "/hook?a=1&a=2",
        {"Content-Type": "application/json", "X-CIO-Signature": "abc", "Host": "127.0.0.1:9"},
        body,
        "127.0.0.1",
    )
    assert event["version"] == "2.0"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["rawPath"] == "/hook"
    assert event["queryStringParameters"] == {"a": "1,2"}
    assert event["headers"]["x-cio-signature"] == "abc"
    assert event["isBase64Encoded"] is False
    assert request_body(event) == body


def test_a_binary_body_arrives_base64_encoded() -> None:
    body = b"\x00\xff raw"
    event = url_event("POST", "/", {"Content-Type": "application/octet-stream"}, body, "127.0.0.1")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_the_functions_reply_becomes_the_http_answer() -> None:
    answer = http_answer({"statusCode": 202, "headers": {"x-a": "1"}, "body": '{"result":"queued"}'}, False)
    assert answer == (202, {"x-a": "1"}, b'{"result":"queued"}')
    assert http_answer({"ok": True}, False).status == 200
    assert http_answer({"ok": True}, False).body == b'{"ok": true}'
    assert http_answer(None, True).status == 502
