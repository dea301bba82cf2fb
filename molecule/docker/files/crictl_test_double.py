#!/usr/bin/python3
"""crictl test double: answers `crictl --version`, `crictl version` and `crictl info`.

The real crictl cannot be had on the test machines (no Debian package, no download), so the
scenario installs this script as `crictl` through the role's archive path. It is a test double
for the crictl binary only: what it prints comes from real CRI gRPC calls
(runtime.v1.RuntimeService/Version and /Status) to the runtime endpoint it reads from
/etc/crictl.yaml, as crictl does. It needs python3-grpcio and no generated protobuf code: the
few CRI messages involved are encoded and decoded by hand below.
"""

import json
import os
import sys

import grpc

VERSION = "v0.0.0-test-double"
CONFIG = os.environ.get("CRI_CONFIG_FILE", "/etc/crictl.yaml")


def read_config(path):
    settings = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.split("#", 1)[0].strip()
            if ":" in line:
                key, value = line.split(":", 1)
                settings[key.strip()] = value.strip().strip("'\"")
    return settings


def _varint(buf, pos):
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(buf):
    """Yield (field number, value) of a protobuf message; value is int or bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _varint(buf, pos)
        elif wire_type == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire_type == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire_type == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")
        yield number, value


def call(settings, method, request):
    endpoint = settings.get("runtime-endpoint", "")
    if not endpoint:
        sys.exit(f"crictl (test double): no runtime-endpoint in {CONFIG}")
    with grpc.insecure_channel(endpoint) as channel:
        rpc = channel.unary_unary(
            f"/runtime.v1.RuntimeService/{method}",
            request_serializer=lambda data: data,
            response_deserializer=lambda data: data,
        )
        return rpc(request, timeout=float(settings.get("timeout", 10)))


def version(settings):
    names = {1: "Version", 2: "RuntimeName", 3: "RuntimeVersion", 4: "RuntimeApiVersion"}
    reply = dict(fields(call(settings, "Version", b"")))
    for number, name in names.items():
        print(f"{name}:  {reply.get(number, b'').decode()}")


def info(settings):
    # StatusRequest{verbose: true}: the reply's info map then carries the CRI plugin's config.
    reply = call(settings, "Status", b"\x08\x01")
    conditions, extra = [], {}
    for number, value in fields(reply):
        if number == 1:
            for cond_number, cond in fields(value):
                if cond_number == 1:
                    parts = dict(fields(cond))
                    conditions.append(
                        {
                            "type": parts.get(1, b"").decode(),
                            "status": bool(parts.get(2, 0)),
                            "reason": parts.get(3, b"").decode(),
                            "message": parts.get(4, b"").decode(),
                        }
                    )
        elif number == 2:
            entry = dict(fields(value))
            key, raw = entry.get(1, b"").decode(), entry.get(2, b"").decode()
            try:
                extra[key] = json.loads(raw)
            except ValueError:
                extra[key] = raw
    print(json.dumps({"status": {"conditions": conditions}, **extra}, indent=2))


def main(argv):
    if argv[1:] == ["--version"]:
        print(f"crictl version {VERSION}")
        return
    commands = {"version": version, "info": info}
    if len(argv) != 2 or argv[1] not in commands:
        sys.exit("usage: crictl (test double) --version | version | info")
    commands[argv[1]](read_config(CONFIG))


if __name__ == "__main__":
    main(sys.argv)
