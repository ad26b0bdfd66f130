"""At most one email per (member, intent): Powertools idempotency on the idempotency table.

A redelivery within a week finds the first send's record and sends nothing; two members' requests can
never suppress each other (the key is the member id and the intent id).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Final

from cio_sync.adapters.idempotency_store import BotocorePersistenceLayer
from cio_sync.adapters.powertools_idempotency import IdempotencyConfig, idempotent_function
from cio_sync.pipeline.email_consumer import EmailSent, parse_email_intent
from cio_sync.sync.intents import SendEmail

IDEMPOTENCY_WINDOW_S: Final = 7 * 24 * 3600
EVENT_KEY: Final = "[member_id, intent_id]"
# Records are keyed "<Lambda function name>.<name>#<hash>". This is the name the send had when records were
# first written (Powertools derives it from the wrapped function), kept so records written before this
# module existed still suppress a redelivered send.
RECORD_NAME: Final = "cio_sync.handlers.email.send_once.<locals>._send"

Send = Callable[[SendEmail, float | None], EmailSent]


class IdempotentEmail:
    """The email consumer's `SendOnce`: sends through `send` unless the intent's record says it was sent.

    `client` is a botocore DynamoDB client (cio_sync.adapters.aws.aws_client).
    """

    def __init__(self, table_name: str, send: Send, client: Any) -> None:
        self._config = IdempotencyConfig(
            event_key_jmespath=EVENT_KEY, expires_after_seconds=IDEMPOTENCY_WINDOW_S
        )
        persistence = BotocorePersistenceLayer(client, table_name)

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
