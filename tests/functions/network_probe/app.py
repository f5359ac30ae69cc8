"""Reports what network an instance has and what it can reach.

event["action"]:
- "probe": the interfaces, the default gateway, and for each of event["targets"]
  ([host, port] pairs, the host "gateway" meaning the default gateway) whether a
  TCP connection got through: the address it came from and the first line the other
  end answered.
- "listen": listens on event["port"] on every address for event["hold_s"] seconds,
  printing "LISTENING <address>" first, and returns how many connections came in.
"""

import errno
import socket
import time
import uuid

INSTANCE = uuid.uuid4().hex


def gateway():
    with open("/proc/net/route") as f:
        for line in f.read().splitlines()[1:]:
            fields = line.split()
            if fields[1] == "00000000":
                return socket.inet_ntoa(bytes.fromhex(fields[2])[::-1])
    return None


def own_address():
    """The address of eth0, if the instance has it (from the route to the gateway)."""
    gw = gateway()
    if gw is None:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((gw, 9))
        return s.getsockname()[0]


def connect(host, port):
    try:
        with socket.create_connection((host, port), timeout=3) as s:
            s.sendall(b"hello from an instance\n")
            reply = s.makefile().readline().strip()
            return {"target": f"{host}:{port}", "ok": True, "me": s.getsockname()[0],
                    "reply": reply}
    except OSError as e:
        name = errno.errorcode.get(e.errno, type(e).__name__) if e.errno else type(e).__name__
        return {"target": f"{host}:{port}", "ok": False, "error": name}


def listen(port, hold_s):
    server = socket.create_server(("0.0.0.0", port))
    server.settimeout(0.1)
    print("LISTENING", own_address(), flush=True)
    accepted = 0
    deadline = time.monotonic() + hold_s
    while time.monotonic() < deadline:
        try:
            conn, _ = server.accept()
            accepted += 1
            conn.close()
        except socket.timeout:
            pass
    return {"accepted": accepted}


def handler(event, context):
    if event.get("action") == "listen":
        return listen(int(event["port"]), float(event.get("hold_s", 5)))
    gw = gateway()
    return {
        "instance": INSTANCE,
        "interfaces": sorted(name for _, name in socket.if_nameindex()),
        "gateway": gw,
        "address": own_address(),
        "attempts": [connect(gw if host == "gateway" else host, int(port))
                     for host, port in event.get("targets", [])],
    }
