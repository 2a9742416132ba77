// Real socket.io-client 4.8 clients in Node for the cluster-without-sticky-sessions tests
// (tests/cluster/no_sticky.rs), driven over stdin/stdout (see redis-lib.mjs); the ops are
// those of pages/no-sticky-ops.mjs, shared with the browser (no-sticky-browser.mjs).

import { io } from "socket.io-client";
import { send, serve } from "./redis-lib.mjs";
import { makeOps } from "./pages/no-sticky-ops.mjs";

serve(makeOps(io, send));
send({ event: "ready" });
