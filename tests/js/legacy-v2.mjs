// socket.io-client 2.x (Engine.IO 3, Socket.IO protocol 4) in Node against a
// server with Engine.IO v3 enabled: TARGET=http://127.0.0.1:PORT node legacy-v2.mjs
// See legacy-run.mjs and pages/interop-scenarios.mjs.
import io from "socket.io-client-v2";
import { run } from "./legacy-run.mjs";

// socket.io-client 2 treats only Buffer and ArrayBuffer as binary
await run(io, "v2", { Bytes: Buffer });
