"""Plain request and response descriptions exchanged with the shell, which does the
actual ``fetch``. The core never performs I/O."""

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json"


class HttpRequest:
    """What the shell should send: method, absolute URL, headers and a text body."""

    __slots__ = ("method", "url", "headers", "body")

    def __init__(
        self, method: str, url: str, headers: "dict[str, str] | None" = None, body: "str | None" = None
    ) -> None:
        self.method = method
        self.url = url
        self.headers = dict(headers) if headers else {}
        self.body = body

    def as_dict(self) -> "dict[str, object]":
        return {"method": self.method, "url": self.url, "headers": dict(self.headers), "body": self.body}

    def __repr__(self) -> str:
        # Bodies and Authorization headers carry secrets: show names only.
        return "HttpRequest(%s %s, headers=%r)" % (self.method, self.url, sorted(self.headers))


class HttpResponse:
    """What the shell received: status, headers (any case) and the body as text."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: "dict[str, str] | None" = None, body: str = "") -> None:
        self.status = status
        self.headers = dict(headers) if headers else {}
        self.body = body

    def header(self, name: str) -> "str | None":
        """The value of header ``name``, compared case-insensitively (RFC 9110 §5.1)."""
        return header_value(self.headers, name)

    def __repr__(self) -> str:
        return "HttpResponse(%d, headers=%r)" % (self.status, sorted(self.headers))


def header_value(headers: "dict[str, str]", name: str) -> "str | None":
    """Case-insensitive header lookup."""
    wanted = name.lower()
    for key in headers:
        if key.lower() == wanted:
            return headers[key]
    return None


def media_type(value: "str | None") -> "str | None":
    """``type/subtype`` of a Content-Type value, lower-cased, without parameters."""
    if value is None:
        return None
    return value.partition(";")[0].strip().lower()


def form_post(url: str, body: str) -> HttpRequest:
    """A form-encoded POST expecting JSON back (RFC 6749 §4.1.3, RFC 7009 §2.1)."""
    headers = {"Content-Type": FORM_CONTENT_TYPE, "Accept": JSON_CONTENT_TYPE}
    return HttpRequest("POST", url, headers, body)
