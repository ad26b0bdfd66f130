"""At most one email per (member, intent): Powertools idempotency on the idempotency table.

A redelivery within a week finds the first send's record and sends nothing; two members' requests can
never suppress each other (the key is the member id and the intent id).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Final

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from cio_sync.pipeline.email_consumer import EmailSent, parse_email_intent
from cio_sync.sync.intents import SendEmail

IDEMPOTENCY_WINDOW_S: Final = 7 * 24 * 3600
# Records are keyed "<Lambda function name>.<name>#<hash>". This is the name the send had when records were
# first written (Powertools derives it from the wrapped function), kept so records written before this
# module existed still suppress a redelivered send.
RECORD_NAME: Final = "cio_sync.handlers.email.send_once.<locals>._send"

Send = Callable[[SendEmail, float | None], EmailSent]


class IdempotentEmail:
    """The email consumer's `SendOnce`: sends through `send` unless the intent's record says it was sent."""

    def __init__(self, table_name: str, send: Send) -> None:
        self._config = IdempotencyConfig(
            event_key_jmespath="[member_id, intent_id]", expires_after_seconds=IDEMPOTENCY_WINDOW_S
        )
        persistence = DynamoDBPersistenceLayer(table_name=table_name)

        def _send(message: dict[str, Any], deadline: float | None) -> dict[str, Any]:
            sent = send(parse_email_intent(message["body"]), deadline)
            return {"delivery_id": sent.delivery_id, "kind": sent.kind}

        function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "test-func")
        self._once = idempotent_function(
            data_keyword_argument="message",
            config=self._config,
            persistence_store=persistence,
            key_prefix=f"{function_name}.{RECORD_NAME}",
        )(_send)

    def register_lambda_context(self, context: Any) -> None:
        """Lets an in-progress record expire with the invocation that holds it (a crashed send)."""
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            self._config.register_lambda_context(context)

    def __call__(self, intent: SendEmail, body: str, deadline: float | None) -> None:
        message = {"intent_id": intent.intent_id, "member_id": intent.member_id, "body": body}
        self._once(message=message, deadline=deadline)
