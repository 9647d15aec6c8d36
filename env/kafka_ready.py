#!/usr/bin/env python3
"""Is a Kafka broker really serving? A dependency-free readiness probe.

    kafka_ready.py HOST:PORT [--timeout SECONDS] [--quiet]

Speaks the Kafka wire protocol: sends ApiVersions v0, picks a Metadata
version the broker accepts (v4 when it can: Kafka 4.x removed Metadata v0-v3,
3.9 has v0-v12, 0.10.2 has v0-v2) and succeeds (exit 0) only when the Metadata
response lists at least one broker. A broker that predates ApiVersions
(0.8.x/0.9.x closes the connection on an unknown API key) is asked Metadata v0.
Prints the brokers it found. Exit 1 when the broker is not ready.
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys

API_METADATA = 3
API_VERSIONS = 18
CLIENT_ID = b"cutover-env-ready"


class NotReady(Exception):
    pass


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise NotReady("connection closed by broker")
        buf += chunk
    return bytes(buf)


def _request(sock: socket.socket, api_key: int, version: int, corr: int, body: bytes) -> bytes:
    # Request header v1: api_key, api_version, correlation_id, client_id (nullable string).
    header = struct.pack(">hhih", api_key, version, corr, len(CLIENT_ID)) + CLIENT_ID
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    data = _recv_exact(sock, size)
    (got_corr,) = struct.unpack(">i", data[:4])
    if got_corr != corr:
        raise NotReady(f"correlation id mismatch ({got_corr} != {corr})")
    return data[4:]  # response header v0 is only the correlation id


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise NotReady("truncated response")
        vals = struct.unpack(fmt, self.data[self.pos : self.pos + size])
        self.pos += size
        return vals

    def string(self) -> str | None:
        (n,) = self.take(">h")
        if n < 0:
            return None
        raw = self.data[self.pos : self.pos + n]
        self.pos += n
        return raw.decode("utf-8", "replace")


def _api_versions(sock: socket.socket) -> dict[int, tuple[int, int]]:
    r = _Reader(_request(sock, API_VERSIONS, 0, 1, b""))
    (err,) = r.take(">h")
    (count,) = r.take(">i")
    apis = {}
    for _ in range(max(count, 0)):
        key, lo, hi = r.take(">hhh")
        apis[key] = (lo, hi)
    if err not in (0, 35) or not apis:  # 35 = UNSUPPORTED_VERSION still lists the APIs
        raise NotReady(f"ApiVersions error code {err}")
    return apis


def _pick_metadata_version(apis: dict[int, tuple[int, int]]) -> int:
    lo, hi = apis.get(API_METADATA, (0, 0))
    for v in (4, 5, 6, 7, 8):  # non-flexible versions this probe can encode
        if lo <= v <= hi:
            return v
    if hi < 4:
        return hi
    raise NotReady(f"no Metadata version this probe speaks (broker offers v{lo}-v{hi})")


def _metadata(sock: socket.socket, version: int, corr: int) -> list[tuple[int, str, int]]:
    if version == 0:
        body = struct.pack(">i", 0)  # v0: empty topic list = all topics
    else:
        body = struct.pack(">i", 0)  # v1+: empty list = no topics
        if version >= 4:
            body += struct.pack(">b", 0)  # allow_auto_topic_creation = false
        if version >= 8:
            body += struct.pack(">bb", 0, 0)  # include cluster/topic authorized operations
    r = _Reader(_request(sock, API_METADATA, version, corr, body))
    if version >= 3:
        r.take(">i")  # throttle_time_ms
    (count,) = r.take(">i")
    brokers = []
    for _ in range(max(count, 0)):
        (node_id,) = r.take(">i")
        host = r.string() or ""
        (port,) = r.take(">i")
        if version >= 1:
            r.string()  # rack
        brokers.append((node_id, host, port))
    return brokers


def probe(host: str, port: int, timeout: float, v0: bool = False) -> tuple[int, list[tuple[int, str, int]]]:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        if v0:
            sock.settimeout(timeout)
            return 0, _metadata(sock, 0, 3)
        sock.settimeout(timeout)
        try:
            apis = _api_versions(sock)
        except (NotReady, OSError):
            apis = None
        if apis is not None:
            version = _pick_metadata_version(apis)
            return version, _metadata(sock, version, 2)
    # No ApiVersions (pre-0.10 broker): a fresh connection, Metadata v0.
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        return 0, _metadata(sock, 0, 3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("address", help="HOST:PORT")
    ap.add_argument("--timeout", type=float, default=3.0, help="socket timeout in seconds")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument(
        "--allow-no-brokers",
        action="store_true",
        help="accept an answered Metadata request that lists no broker (0.8.x lists none until a topic exists)",
    )
    ap.add_argument(
        "--v0",
        action="store_true",
        help="skip ApiVersions and ask Metadata v0 (pre-0.10 brokers log an error for every unknown request)",
    )
    args = ap.parse_args(argv)
    host, _, port = args.address.rpartition(":")
    try:
        version, brokers = probe(host or "127.0.0.1", int(port), args.timeout, args.v0)
    except (OSError, NotReady, struct.error, ValueError) as e:
        if not args.quiet:
            print(f"{args.address}: not ready: {e}", file=sys.stderr)
        return 1
    if not brokers and not args.allow_no_brokers:
        if not args.quiet:
            print(f"{args.address}: not ready: Metadata v{version} lists no broker", file=sys.stderr)
        return 1
    if not args.quiet:
        listed = ", ".join(f"{n}@{h}:{p}" for n, h, p in brokers) or "none listed"
        print(f"{args.address}: ready (Metadata v{version}; brokers {listed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
