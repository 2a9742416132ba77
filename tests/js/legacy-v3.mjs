// socket.io-client 3.x (Engine.IO 4, Socket.IO protocol 5) in Node:
// TARGET=http://127.0.0.1:PORT node legacy-v3.mjs
// See legacy-run.mjs and pages/interop-scenarios.mjs.
import io from "socket.io-client-v3";
import { run } from "./legacy-run.mjs";

await run(io, "v3");
