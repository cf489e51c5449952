"""Hello from Python: a Strata component built with componentize-py.

It answers every request with the `greeting` setting from its manifest
entry (read through `strata:host/config`), prints a line that the host
writes to its log under this component and the request id, and shows what
an uncaught exception does: a path ending in `/fail` raises, the traceback
reaches the host's log, and the client gets a generic JSON 500 carrying the
request id.
"""

from componentize_py_types import Ok
from wit_world import exports
from wit_world.imports import config
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        path = request.path_with_query() or "/"
        if path.endswith("/fail"):
            raise RuntimeError("the example failed on purpose")
        print(f"answering {path}")
        greeting = config.get("greeting") or "Hello"

        response = OutgoingResponse(Fields.from_list([("content-type", b"text/plain")]))
        body = response.body()
        ResponseOutparam.set(response_out, Ok(response))
        with body.write() as stream:
            stream.blocking_write_and_flush(f"{greeting} from Python\n".encode())
        OutgoingBody.finish(body, None)
