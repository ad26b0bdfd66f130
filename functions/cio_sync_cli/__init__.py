"""The `cio-sync` operator command line: members, imports, reconcile, dead letters.

Runs on an operator's machine, never in Lambda (the SAM build ships `cio_sync` alone). It reuses the
runtime's domain and adapters, so the CLI writes members and queues exactly as the functions do; the
runtime never imports it (import contracts in pyproject.toml).
"""
