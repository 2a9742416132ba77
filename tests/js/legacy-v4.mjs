// The current socket.io-client (4.x) in Node, through the same scenarios as
// the 2.x and 3.x clients (auto-reconnection included):
// TARGET=http://127.0.0.1:PORT node legacy-v4.mjs
// PARSER=msgpack: with socket.io-msgpack-parser (server too), see legacy-run.mjs.
// See legacy-run.mjs and pages/interop-scenarios.mjs.
import { io } from "socket.io-client";
import { run } from "./legacy-run.mjs";

await run(io, "v4");
