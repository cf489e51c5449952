// Hello from JavaScript: a Strata component built with componentize-js.
//
// It answers every request with the `greeting` setting from its manifest
// entry (read through `strata:host/config`), logs a line with console.log
// that the host writes to its log under this component and the request id,
// and shows what an uncaught exception does: a path ending in `/fail`
// throws, the error reaches the host's log, and the client gets a generic
// JSON 500 carrying the request id.

import { get } from "strata:host/config@0.1.2";
import { Fields, OutgoingBody, OutgoingResponse, ResponseOutparam } from "wasi:http/types@0.2.12";

const encoder = new TextEncoder();

export const incomingHandler = {
  handle(request, responseOut) {
    const path = request.pathWithQuery() ?? "/";
    if (path.endsWith("/fail")) {
      throw new Error("the example failed on purpose");
    }
    console.log(`answering ${path}`);
    const greeting = get("greeting") ?? "Hello";

    const response = new OutgoingResponse(Fields.fromList([["content-type", encoder.encode("text/plain")]]));
    const body = response.body();
    ResponseOutparam.set(responseOut, { tag: "ok", val: response });
    const stream = body.write();
    stream.blockingWriteAndFlush(encoder.encode(`${greeting} from JavaScript\n`));
    stream[Symbol.dispose]();
    OutgoingBody.finish(body, undefined);
  },
};
