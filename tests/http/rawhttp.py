"""Raw-socket HTTP for the tests of `sluice serve` that send what curl will
not (imported by http11.py and framing.py): send bytes in pieces, read
until the server closes (or a timeout), split the answers by
Content-Length."""
import socket

STILL_OPEN = b"<still open>"


def exchange(port, parts, timeout=5, in_turn=False):
    """Send each of parts (bytes) on one connection, without Nagle's delay;
    everything read until the server closes, + STILL_OPEN on a timeout.
    in_turn: each part goes once the answer to the one before it came (a
    kept-alive connection used request by request)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    out = b""
    try:
        for i, p in enumerate(parts):
            s.sendall(p)
            while in_turn and i < len(parts) - 1 and not answered(out, i + 1):
                b = s.recv(65536)
                if not b:
                    s.close()
                    return out
                out += b
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except socket.timeout:
        out += STILL_OPEN
    s.close()
    return out


def answered(raw, n):
    """Whether raw holds n whole answers."""
    rs = responses(raw)
    return len(rs) >= n and all(st and len(body) == int(hs.get("content-length", len(body)))
                                for st, hs, body in rs[:n])


def responses(raw):
    """Split a byte stream into (status, headers{lower: value}, body) by Content-Length."""
    out = []
    if raw.endswith(STILL_OPEN):
        raw = raw[:-len(STILL_OPEN)]
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        if not sep:
            out.append((0, {}, raw))
            break
        lines = head.split(b"\r\n")
        try:
            status = int(lines[0].split(b" ")[1])
        except (IndexError, ValueError):
            status = 0
        hs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            hs[k.strip().lower().decode()] = v.strip().decode()
        n = int(hs.get("content-length", len(rest)))
        out.append((status, hs, rest[:n]))
        raw = rest[n:]
    return out
