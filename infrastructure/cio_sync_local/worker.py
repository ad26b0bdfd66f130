"""One Lambda execution environment: a process that runs one function's handler, invocation after invocation.

Started by `workers.WorkerPool` as `python -m cio_sync_local.worker --fd N` with the function's own
environment (its deployed variables plus what the Lambda runtime sets), it talks to the pool over the
socket N, one JSON message each way at a time:

    pool -> worker  {"init": {"function": {...}, "region": ..., "authorisation": {...} | null}}
    worker -> pool  {"ready": true}  |  {"error": {"type": "Runtime.ImportModuleError", "message": ...}}
    pool -> worker  {"invoke": EVENT, "remaining_s": S}
    worker -> pool  {"response": ANSWER}  |  {"error": {"type": ..., "message": ...}}

Before the handler's module is imported (its cold start), the role's policies are installed as a botocore
hook (`iam_hook`), so every AWS call the function makes is authorised as on AWS. An unhandled exception
fails the invocation and the environment stays warm, as on Lambda; the pool replaces a worker that died
or ran out of time.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

PARENT_CHECK_S = 1.0


def _error(error_type: str, error: BaseException) -> dict[str, Any]:
    return {
        "error": {
            "type": error_type,
            "message": f"{type(error).__name__}: {error}",
            "trace": traceback.format_exception(error),
        }
    }


def _install_authorisation(raw: dict[str, Any] | None) -> None:
    if raw is None:
        return
    from cio_sync_local.iam_calls import StackResources  # noqa: PLC0415 - after the environment is set
    from cio_sync_local.iam_hook import Authorisation, install  # noqa: PLC0415 - as above

    resources = StackResources(**raw["resources"])
    install(
        Authorisation(
            role_arn=raw["role_arn"],
            session_name=raw["session_name"],
            policies=raw["policies"],
            resources=resources,
        )
    )


def _exit_with_parent(parent_pid: int) -> None:
    """A handler stalled in a call would never see its socket close: follow the parent out."""
    while os.getppid() == parent_pid:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)


def serve(connection: Connection) -> None:
    init = json.loads(connection.recv_bytes())["init"]
    from cio_sync_local.description import FunctionSpec  # noqa: PLC0415 - light, and after the hook
    from cio_sync_local.invoker import LambdaContext  # noqa: PLC0415 - as above

    function = FunctionSpec(**init["function"])
    region = str(init["region"])
    try:
        _install_authorisation(init.get("authorisation"))
        module_name, _, attribute = function.handler.rpartition(".")
        handler = getattr(importlib.import_module(module_name), attribute)
    except Exception as error:  # reported to the pool as Lambda reports a failed init
        connection.send_bytes(json.dumps(_error("Runtime.ImportModuleError", error)).encode())
        return
    connection.send_bytes(json.dumps({"ready": True}).encode())
    while True:
        try:
            message = json.loads(connection.recv_bytes())
        except (EOFError, OSError):
            return
        context = LambdaContext(function, region, remaining_s=float(message["remaining_s"]))
        try:
            answer = handler(message["invoke"], context)
        except Exception as error:  # the handler's failure is the invocation's, as on Lambda
            reply = json.dumps(_error("Runtime.HandlerError", error))
        else:
            try:
                reply = json.dumps({"response": answer})
            except (TypeError, ValueError) as error:
                reply = json.dumps(_error("Runtime.MarshalError", error))
        sys.stdout.flush()
        sys.stderr.flush()
        connection.send_bytes(reply.encode())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="one execution environment of a local Lambda function")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, default=0)
    args = parser.parse_args(argv)
    if args.parent_pid:
        threading.Thread(target=_exit_with_parent, args=(args.parent_pid,), daemon=True).start()
    serve(Connection(args.fd))


if __name__ == "__main__":
    main()
