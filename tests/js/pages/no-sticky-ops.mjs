// The client side of the cluster-without-sticky-sessions tests (tests/cluster/no_sticky.rs),
// the same in Node (no-sticky-clients.mjs) and in Chromium (no-sticky.html, driven by
// no-sticky-browser.mjs): `makeOps(io, send)` gives the ops the Rust test calls, each taking
// the request object and returning (a promise of) its result; `send` reports events.
//
// Ops:
//   connect {name, url, mode}  mode: default | polling | no-upgrade | websocket; resolves
//                              {sid, transport} once connected (and upgraded in mode default)
//   acks {name, count}         emits `count` "echo" events at once; resolves with the acks'
//                              [index, answer] pairs in the order they arrived
//   stream {name, count}       asks the server for `count` "item" events; resolves with them
//                              in the order they arrived
//   idle {name, ms}            stays idle; resolves {pings, disconnects, transport, connected}
//   emit {name, event, args}   resolves with the ack's argument
//   state {name}               {connected, sid, transport, disconnects, connects}
// Events: {event:"recv", client, ev:"bcast", args}, {event:"connect", client, sid},
//         {event:"disconnect", client, reason}.

const MODES = {
  default: {},
  polling: { transports: ["polling"] },
  "no-upgrade": { upgrade: false },
  websocket: { transports: ["websocket"] },
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function makeOps(io, send) {
  const clients = new Map();

  function client(name) {
    const c = clients.get(name);
    if (!c) throw new Error(`no client ${name}`);
    return c;
  }

  function upgraded(socket) {
    const engine = socket.io.engine;
    if (engine.transport.name === "websocket") return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no upgrade within 5 s")), 5000);
      engine.once("upgrade", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  return {
    connect(req) {
      const options = MODES[req.mode];
      if (!options) throw new Error(`unknown mode ${req.mode}`);
      return new Promise((resolve, reject) => {
        const socket = io(req.url, {
          ...options,
          forceNew: true,
          reconnectionDelay: 100,
          reconnectionDelayMax: 300,
          timeout: 5000,
        });
        const c = { socket, pings: 0, disconnects: 0, connects: 0, stream: [] };
        clients.set(req.name, c);
        socket.io.on("open", () => socket.io.engine.on("ping", () => c.pings++));
        socket.on("bcast", (...args) => send({ event: "recv", client: req.name, ev: "bcast", args }));
        socket.on("item", (i) => c.stream.push(i));
        socket.on("disconnect", (reason) => {
          c.disconnects++;
          send({ event: "disconnect", client: req.name, reason });
        });
        socket.on("connect", () => {
          c.connects++;
          send({ event: "connect", client: req.name, sid: socket.id });
        });
        socket.once("connect", async () => {
          try {
            if (req.mode === "default") await upgraded(socket);
            resolve({ sid: socket.id, transport: socket.io.engine.transport.name });
          } catch (e) {
            reject(e);
          }
        });
        socket.once("connect_error", (e) => reject(new Error(`connect_error: ${e.message}`)));
      });
    },
    async acks(req) {
      const { socket } = client(req.name);
      const arrived = [];
      await Promise.all(
        Array.from({ length: req.count }, (_, i) =>
          socket
            .timeout(10000)
            .emitWithAck("echo", i)
            .then((answer) => arrived.push([i, answer])),
        ),
      );
      return arrived;
    },
    async stream(req) {
      const c = client(req.name);
      c.stream = [];
      await c.socket.timeout(5000).emitWithAck("stream", req.count);
      const deadline = Date.now() + 10000;
      while (c.stream.length < req.count && Date.now() < deadline) await sleep(20);
      return c.stream;
    },
    async idle(req) {
      const c = client(req.name);
      const [pings, disconnects] = [c.pings, c.disconnects];
      await sleep(req.ms);
      return {
        pings: c.pings - pings,
        disconnects: c.disconnects - disconnects,
        transport: c.socket.io.engine?.transport?.name,
        connected: c.socket.connected,
      };
    },
    emit(req) {
      return client(req.name)
        .socket.timeout(5000)
        .emitWithAck(req.event, ...(req.args || []));
    },
    state(req) {
      const c = client(req.name);
      return {
        connected: c.socket.connected,
        sid: c.socket.id,
        transport: c.socket.io.engine?.transport?.name,
        disconnects: c.disconnects,
        connects: c.connects,
      };
    },
  };
}
