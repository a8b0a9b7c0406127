"""SDP (RFC 4566) as far as media handling needs: session and media lines, attributes."""

from __future__ import annotations

from pysips.sip.errors import ParseError


class Connection:
    __slots__ = ("address", "addrtype", "nettype")

    def __init__(self, nettype: str, addrtype: str, address: str) -> None:
        self.nettype = nettype
        self.addrtype = addrtype
        self.address = address

    def __repr__(self) -> str:
        return f"Connection({self.nettype} {self.addrtype} {self.address})"


class Origin:
    __slots__ = ("address", "addrtype", "nettype", "sess_id", "sess_version", "username")

    def __init__(self, fields: list[str]) -> None:
        self.username, self.sess_id, self.sess_version, self.nettype, self.addrtype, self.address = fields


class Media:
    """One m= section with the lines that follow it."""

    __slots__ = ("attributes", "bandwidths", "connection", "formats", "kind", "port", "port_count", "proto")

    def __init__(self, kind: str, port: int, port_count: int, proto: str, formats: list[str]) -> None:
        self.kind = kind
        self.port = port
        self.port_count = port_count
        self.proto = proto
        self.formats = formats
        self.connection: Connection | None = None
        self.attributes: list[tuple[str, str | None]] = []
        self.bandwidths: list[str] = []

    def attribute(self, name: str) -> str | None:
        for key, value in self.attributes:
            if key == name:
                return value if value is not None else ""
        return None

    def has_attribute(self, name: str) -> bool:
        return any(key == name for key, _ in self.attributes)

    @property
    def direction(self) -> str | None:
        for key, _ in self.attributes:
            if key in ("sendrecv", "sendonly", "recvonly", "inactive"):
                return key
        return None


class Sdp:
    __slots__ = (
        "attributes", "bandwidths", "connection", "lines", "media", "origin", "session_name", "times",
        "version",
    )

    def __init__(self) -> None:
        self.version = 0
        self.origin: Origin | None = None
        self.session_name = ""
        self.connection: Connection | None = None
        self.times: list[str] = []
        self.bandwidths: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.media: list[Media] = []
        self.lines: list[str] = []

    def attribute(self, name: str) -> str | None:
        for key, value in self.attributes:
            if key == name:
                return value if value is not None else ""
        return None

    def media_connection(self, media: Media) -> Connection | None:
        """The c= line that applies to a media section (its own, else the session's)."""
        return media.connection or self.connection

    def addresses(self) -> list[str]:
        out = [self.connection.address] if self.connection else []
        out += [m.connection.address for m in self.media if m.connection]
        return out


def _connection(value: str) -> Connection | ParseError:
    parts = value.split()
    if len(parts) != 3:
        return ParseError(f"bad c= line {value[:60]!r}")
    return Connection(parts[0], parts[1], parts[2])


def parse_sdp(body: bytes | str) -> Sdp | ParseError:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    sdp = Sdp()
    current: Media | None = None
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or not lines[0].startswith("v="):
        return ParseError("SDP must start with v=")
    attributes = sdp.attributes
    keep = sdp.lines.append
    for line in lines:
        kind = line[:1]
        if line[1:2] != "=" or not ("a" <= kind <= "z"):
            return ParseError(f"bad SDP line {line[:60]!r}")
        keep(line)
        if kind == "a":
            name, sep, attr = line[2:].partition(":")
            attributes.append((name, attr if sep else None))
            continue
        value = line[2:]
        if kind == "m":
            parts = value.split()
            if len(parts) < 3:
                return ParseError(f"bad m= line {value[:60]!r}")
            port_text, _, count_text = parts[1].partition("/")
            if not port_text.isdigit() or int(port_text) > 65535 or (count_text and not count_text.isdigit()):
                return ParseError(f"bad m= port {parts[1][:20]!r}")
            count = int(count_text) if count_text else 1
            current = Media(parts[0], int(port_text), count, parts[2], parts[3:])
            attributes = current.attributes
            sdp.media.append(current)
        elif kind == "c":
            conn = _connection(value)
            if isinstance(conn, ParseError):
                return conn
            if current is None:
                sdp.connection = conn
            else:
                current.connection = conn
        elif kind == "b":
            (current.bandwidths if current else sdp.bandwidths).append(value)
        elif current is None:
            if kind == "v":
                if value.strip() != "0":
                    return ParseError("unsupported SDP version")
            elif kind == "o":
                fields = value.split()
                if len(fields) != 6:
                    return ParseError(f"bad o= line {value[:60]!r}")
                sdp.origin = Origin(fields)
            elif kind == "s":
                sdp.session_name = value
            elif kind == "t":
                sdp.times.append(value)
    return sdp
