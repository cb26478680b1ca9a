"""Small programs the firewall lab runs inside its network namespaces.

`serve` answers HTTP on many addresses at once (and plays GitHub's meta endpoint);
`dns` asks one resolver one question; `tcp` opens one connection. They are separate
programs because they must run under `ip netns exec`, not in the test's own process.
They never reach beyond the addresses they are given.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _split(spec: str) -> tuple[str, int]:
    host, _, port = spec.rpartition(":")
    return host.strip("[]"), int(port)


def serve(meta_path: str, specs: list[str]) -> None:
    meta = open(meta_path, encoding="utf-8").read()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            host, port = self.server.server_address[:2]
            status, body = 200, f"hello from {host} port {port}\n"
            if self.path == "/meta":
                body = meta
            elif self.path == "/meta-500":
                status, body = 500, "server error\n"
            elif self.path == "/meta-garbage":
                body = "<html>this is not the meta endpoint</html>\n"
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args):
            pass

    servers = []
    for spec in specs:
        host, port = _split(spec)

        class Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
            daemon_threads = True

        server = Server((host, port), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()


def dns(server: str, name: str) -> int:
    query = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes([len(label)]) + label.encode() for label in name.split("."))
    query += b"\x00" + struct.pack(">HH", 1, 1)
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        try:
            sock.sendto(query, (server, 53))
            answer, _ = sock.recvfrom(512)
        except OSError as error:
            print(f"no answer: {error!r}")
            return 1
    answered = answer[:2] == query[:2] and struct.unpack(">H", answer[6:8])[0] > 0
    print("answered" if answered else "empty answer")
    return 0 if answered else 1


def tcp(spec: str) -> int:
    host, port = _split(spec)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    started = time.monotonic()
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(3)
        try:
            sock.connect((host, port))
        except OSError as error:
            print(
                json.dumps(
                    {"open": False, "error": repr(error), "seconds": time.monotonic() - started}
                )
            )
            return 1
    print(json.dumps({"open": True, "seconds": time.monotonic() - started}))
    return 0


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    if command == "serve":
        serve(arguments[0], arguments[1:])
    elif command == "dns":
        sys.exit(dns(*arguments))
    elif command == "tcp":
        sys.exit(tcp(*arguments))
    else:
        sys.exit(f"labtool: unknown command {command}")
