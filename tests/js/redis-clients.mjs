// A pool of real socket.io-client 4.8 clients for the Redis adapter tests,
// driven over stdin/stdout (see redis-lib.mjs for the protocol).
//
// Ops: connect {name, url, auth?} (replies with the socket id once connected),
// emit {name, event, args} (replies with the ack's arguments), disconnect {name}.
// Events: {"event":"recv","client":name,"ev":event,"args":[...]} for every
// event a client receives, and {"event":"disconnect","client":name,"reason":r}.
// A client acks every event that asks for it with {from: name} (`ask`) or with
// a Buffer of its name (`ask-bin`).

import { io } from "socket.io-client";
import { send, serve, toWire, fromWire } from "./redis-lib.mjs";

const clients = new Map();

serve({
  connect(req) {
    return new Promise((resolve, reject) => {
      const socket = io(req.url, {
        auth: req.auth || { name: req.name },
        transports: ["websocket"],
        reconnection: false,
        timeout: 5000,
      });
      clients.set(req.name, socket);
      socket.onAny((ev, ...args) => {
        const last = args[args.length - 1];
        const ack = typeof last === "function" ? args.pop() : null;
        send({ event: "recv", client: req.name, ev, args: toWire(args) });
        if (ack) ack(ev === "ask-bin" ? Buffer.from(req.name) : { from: req.name });
      });
      socket.on("disconnect", (reason) => send({ event: "disconnect", client: req.name, reason }));
      socket.once("connect", () => resolve({ sid: socket.id }));
      socket.once("connect_error", (e) => reject(e));
    });
  },
  emit(req) {
    const socket = clients.get(req.name);
    if (!socket) throw new Error(`no client ${req.name}`);
    return socket.timeout(5000).emitWithAck(req.event, ...fromWire(req.args || []));
  },
  disconnect(req) {
    clients.get(req.name)?.disconnect();
  },
});

send({ event: "ready" });
