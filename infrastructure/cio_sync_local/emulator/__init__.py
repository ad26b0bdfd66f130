"""A local Customer.io (Track v1/v2 and App send-email) that speaks real HTTP, for tests and `make run`.

It validates requests against Customer.io's own OpenAPI document and enforces the documented limits, so
code that passes here sends what the real service accepts.
"""

from cio_sync_local.emulator.serving import Emulator

__all__ = ["Emulator"]
