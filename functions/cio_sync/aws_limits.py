"""AWS's own limits that the runtime and the CLI batch by: one home, so no copy can drift."""

from __future__ import annotations

from typing import Final

# Entries per SQS SendMessageBatch, DeleteMessageBatch and ChangeMessageVisibilityBatch, and messages per
# ReceiveMessage: the API's maximum.
SQS_BATCH: Final = 10
