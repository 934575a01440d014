// One pRPC call with LUCI's JavaScript client (@chopsui/prpc-client), for tests/rpc/test_clients.py.
//
// Usage: node prpc_call.cjs <host:port> <service> <method> <request JSON> [<headers JSON>]
// Prints one JSON line: {"ok": true, "response": {...}} or
// {"ok": false, "error": "GrpcError" | "ProtocolError" | ..., "code": n, "status": n, "description": "..."}.
"use strict";

const { PrpcClient, GrpcError, ProtocolError } = require("@chopsui/prpc-client");

async function main() {
  const [host, service, method, request, headers] = process.argv.slice(2);
  const client = new PrpcClient({ host, insecure: true, fetchImpl: fetch });
  try {
    const response = await client.call(
      service,
      method,
      JSON.parse(request),
      headers ? JSON.parse(headers) : undefined,
    );
    console.log(JSON.stringify({ ok: true, response }));
  } catch (err) {
    const out = { ok: false, error: err.constructor.name, description: err.description };
    if (err instanceof GrpcError) {
      out.code = err.code;
    } else if (err instanceof ProtocolError) {
      out.status = err.httpStatus;
    } else {
      out.description = String(err);
    }
    console.log(JSON.stringify(out));
  }
}

main();
