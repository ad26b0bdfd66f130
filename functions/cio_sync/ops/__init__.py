"""Operator tooling behind the `cio-sync` command line: members, reconcile, dead letters.

Runs on an operator's machine, never in Lambda; it reuses the package's domain and adapters so the CLI
writes members and queues exactly as the functions do.
"""
