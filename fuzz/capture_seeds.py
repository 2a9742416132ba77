#!/usr/bin/env python3
"""Records real client traffic and turns it into fuzz seed corpora (fuzz/seeds/<target>/).

    python3 fuzz/capture_seeds.py --listen 3301 --upstream 127.0.0.1:3300 --out /tmp/tsio-capture &
    TARGET=http://127.0.0.1:3301 node tests/js/engine-client.mjs
    TARGET=http://127.0.0.1:3301 node tests/js/socketio-client.mjs
    kill %1                                   # the capture is written as connections end
    python3 fuzz/capture_seeds.py --extract /tmp/tsio-capture --seeds fuzz/seeds

The proxy forwards every TCP connection to the upstream server (the conformance example,
`PORT=3300 cargo run --example conformance`) and appends what each side sent to a file per
connection. `--extract` reads those files back: HTTP requests and responses (Content-Length
or chunked bodies), then, after a `101 Switching Protocols`, WebSocket frames (client frames
unmasked), and writes
  handshake_query/    every request's query string
  engine_payload_v4/  every polling body (POSTed by clients and sent by the server)
  engine_packet/      every packet of those payloads and every WebSocket text frame
  engine_payload_v3/  the same packets in v3 framing: text (`<len>:<packet>`, first byte 0)
                      and binary (`<0|1><digits>0xFF<packet>`, first byte 1)
  socketio_decoder/   per connection, the Socket.IO messages a client sent, in order, in the
                      fuzz target's format (0xFF between messages, 0xFE before binary ones)
Seeds are named by their SHA-1, so reruns only add what is new.
"""
import argparse
import asyncio
import base64
import hashlib
import os
import sys
from urllib.parse import urlsplit

# ---------------------------------------------------------------------------- proxy

async def pipe(reader, writer, log, tag):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            log.append((tag, data))
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


def save(out, n, log):
    with open(os.path.join(out, f"conn-{n:06d}.bin"), "wb") as f:
        for tag, data in log:
            f.write(tag + len(data).to_bytes(4, "big") + data)


async def proxy(listen, upstream, out):
    os.makedirs(out, exist_ok=True)
    host, port = upstream.rsplit(":", 1)
    counter = [0]

    async def handle(cr, cw):
        counter[0] += 1
        n = counter[0]
        log = []
        try:
            sr, sw = await asyncio.open_connection(host, int(port))
        except OSError:
            cw.close()
            return
        await asyncio.gather(pipe(cr, sw, log, b"C"), pipe(sr, cw, log, b"S"))
        save(out, n, log)

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    print(f"capturing 127.0.0.1:{listen} -> {upstream} into {out}", flush=True)
    async with server:
        await server.serve_forever()

# ---------------------------------------------------------------------------- extraction

def read_log(path):
    client, server = bytearray(), bytearray()
    data = open(path, "rb").read()
    i = 0
    while i < len(data):
        tag, size = data[i:i + 1], int.from_bytes(data[i + 1:i + 5], "big")
        chunk = data[i + 5:i + 5 + size]
        (client if tag == b"C" else server).extend(chunk)
        i += 5 + size
    return bytes(client), bytes(server)


def http_messages(stream):
    """Yields (head, body) for each HTTP message; stops at an upgrade (returns the rest)."""
    i = 0
    out = []
    while i < len(stream):
        end = stream.find(b"\r\n\r\n", i)
        if end < 0:
            break
        head = stream[i:end].decode("latin-1")
        i = end + 4
        headers = {}
        for line in head.split("\r\n")[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        body = b""
        if "content-length" in headers:
            n = int(headers["content-length"])
            body = stream[i:i + n]
            i += n
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                eol = stream.find(b"\r\n", i)
                if eol < 0:
                    break
                size = int(stream[i:eol].split(b";")[0], 16)
                i = eol + 2
                if size == 0:
                    i = stream.find(b"\r\n", i) + 2
                    break
                body += stream[i:i + size]
                i += size + 2
        out.append((head, headers, body))
        first = head.split("\r\n")[0]
        if first.startswith("HTTP/1.1 101") or headers.get("upgrade", "").lower() == "websocket":
            if first.startswith("HTTP/1.1 101"):
                return out, stream[i:]
            out_rest = stream[i:]
            return out, out_rest
    return out, b""


def ws_frames(stream):
    i = 0
    frames = []
    message, message_op = b"", None
    while i + 2 <= len(stream):
        b0, b1 = stream[i], stream[i + 1]
        fin, op = b0 & 0x80, b0 & 0x0F
        masked, n = b1 & 0x80, b1 & 0x7F
        j = i + 2
        if n == 126:
            n = int.from_bytes(stream[j:j + 2], "big"); j += 2
        elif n == 127:
            n = int.from_bytes(stream[j:j + 8], "big"); j += 8
        mask = stream[j:j + 4] if masked else None
        if masked:
            j += 4
        if j + n > len(stream):
            break
        payload = stream[j:j + n]
        if mask:
            payload = bytes(b ^ mask[k % 4] for k, b in enumerate(payload))
        i = j + n
        if op in (1, 2):
            message, message_op = payload, op
        elif op == 0:
            message += payload
        else:
            continue
        if fin and message_op is not None:
            frames.append((message_op, message))
            message, message_op = b"", None
    return frames


def v3_text(packets):
    out = ""
    for p in packets:
        out += f"{len(p.encode('utf-16-le')) // 2}:{p}"
    return out.encode()


def v3_binary(packets):
    out = bytearray()
    for p in packets:
        data = p.encode()
        out.append(0)
        out.extend(int(d) for d in str(len(data)))
        out.append(0xFF)
        out.extend(data)
    return bytes(out)


def extract(capture, seeds):
    corpora = {name: set() for name in
               ["handshake_query", "engine_payload_v4", "engine_packet", "engine_payload_v3",
                "socketio_decoder"]}
    for name in sorted(os.listdir(capture)):
        client, server = read_log(os.path.join(capture, name))
        requests, client_rest = http_messages(client)
        responses, server_rest = http_messages(server)
        sio_messages = []
        payloads = []
        for head, headers, body in requests:
            target = head.split(" ")[1] if " " in head else ""
            query = urlsplit(target).query
            if query:
                corpora["handshake_query"].add(query.encode())
            if body and headers.get("content-type", "").startswith("text/plain"):
                payloads.append(body)
                for p in body.split(b"\x1e"):
                    if p.startswith(b"4"):
                        sio_messages.append(p[1:])
                    elif p.startswith(b"b"):
                        try:
                            sio_messages.append(b"\xfe" + base64.b64decode(p[1:]))
                        except Exception:
                            pass
        for head, headers, body in responses:
            if body and "content-encoding" not in headers and headers.get(
                    "content-type", "").startswith("text/plain"):
                payloads.append(body)
        for op, data in ws_frames(client_rest):
            if op == 1:
                corpora["engine_packet"].add(data)
                if data.startswith(b"4"):
                    sio_messages.append(data[1:])
            else:
                sio_messages.append(b"\xfe" + data)
        for op, data in ws_frames(server_rest):
            if op == 1:
                corpora["engine_packet"].add(data)
        for body in payloads:
            corpora["engine_payload_v4"].add(body)
            packets = body.split(b"\x1e")
            for p in packets:
                corpora["engine_packet"].add(p)
            try:
                text = [p.decode() for p in packets]
            except UnicodeDecodeError:
                continue
            corpora["engine_payload_v3"].add(b"\x00" + v3_text(text))
            corpora["engine_payload_v3"].add(b"\x01" + v3_binary(text))
        if sio_messages:
            corpora["socketio_decoder"].add(b"\xff".join(sio_messages))
            for m in sio_messages:
                if not m.startswith(b"\xfe"):
                    corpora["socketio_decoder"].add(m)
    for name, items in corpora.items():
        d = os.path.join(seeds, name)
        os.makedirs(d, exist_ok=True)
        for item in items:
            if len(item) > 64 * 1024:
                continue
            with open(os.path.join(d, hashlib.sha1(item).hexdigest()), "wb") as f:
                f.write(item)
        print(f"{name}: {len(os.listdir(d))} seeds")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", type=int)
    ap.add_argument("--upstream")
    ap.add_argument("--out")
    ap.add_argument("--extract")
    ap.add_argument("--seeds", default=os.path.join(os.path.dirname(__file__), "seeds"))
    a = ap.parse_args()
    if a.extract:
        extract(a.extract, a.seeds)
    elif a.listen and a.upstream and a.out:
        try:
            asyncio.run(proxy(a.listen, a.upstream, a.out))
        except KeyboardInterrupt:
            pass
    else:
        ap.error("either --listen/--upstream/--out or --extract")


if __name__ == "__main__":
    sys.exit(main())
