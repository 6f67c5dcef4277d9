//! The HTTP/1.1 subset the control API speaks: one request per connection, a body only with
//! `Content-Length`, `Connection: close` on every answer. Everything a client sends is
//! bounded (head, header count, target, body) and checked before it is used; a request that
//! breaks a rule gets a JSON error and closes the connection, and nothing panics on any input.
//!
//! The same module reads answers for `xdhcpctl` and the tests ([`parse_response`]).

use std::fmt::Write as _;

/// Longest request head (request line and headers).
pub const MAX_HEAD: usize = 16 * 1024;
/// Most headers in a request.
pub const MAX_HEADERS: usize = 64;
/// Longest request target.
pub const MAX_TARGET: usize = 8 * 1024;
/// Largest request body.
pub const MAX_BODY: usize = 1 << 20;

/// A request that cannot be served, as the status and JSON error to answer with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpError {
    /// Status code.
    pub status: u16,
    /// Short machine-readable error name.
    pub error: &'static str,
    /// What was wrong.
    pub reason: String,
}

impl HttpError {
    /// A 400 with `reason`.
    pub fn bad(reason: impl Into<String>) -> Self {
        HttpError {
            status: 400,
            error: "bad_request",
            reason: reason.into(),
        }
    }

    fn new(status: u16, error: &'static str, reason: impl Into<String>) -> Self {
        HttpError {
            status,
            error,
            reason: reason.into(),
        }
    }
}

/// The request line and headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, percent-decoded, split at `/` (no empty segments).
    pub segments: Vec<String>,
    /// Query parameters, percent-decoded, in order.
    pub query: Vec<(String, String)>,
    /// Headers with lower-case names, in order.
    pub headers: Vec<(String, String)>,
    /// Body length.
    pub content_length: usize,
    /// The client waits for `100 Continue` before it sends the body.
    pub expect_continue: bool,
}

impl Head {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A whole request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Request line and headers.
    pub head: Head,
    /// The body (`content_length` bytes).
    pub body: Vec<u8>,
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Finds the end of the head: the index just past the blank line.
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Parses the head at the start of `buf`. `Ok(None)` while it is incomplete (and not yet too
/// long); otherwise the head and its length in bytes.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, HttpError> {
    let Some(end) = head_end(&buf[..buf.len().min(MAX_HEAD + 4)]) else {
        if buf.len() > MAX_HEAD {
            return Err(HttpError::new(
                431,
                "header_too_large",
                format!("the request head is over {MAX_HEAD} bytes"),
            ));
        }
        return Ok(None);
    };
    // Every line of the head, each still ending in CR.
    let text = &buf[..end - 3];
    let mut lines = text.split(|&b| b == b'\n').map(|l| match l {
        [rest @ .., b'\r'] => Ok(rest),
        _ => Err(HttpError::bad("lines must end with CRLF")),
    });
    let line = lines.next().unwrap_or(Ok(&[][..])).and_then(|l| {
        std::str::from_utf8(l).map_err(|_| HttpError::bad("request line is not ASCII"))
    })?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::bad(
            "request line must be `METHOD /path HTTP/1.1`",
        ));
    };
    if method.is_empty() || !method.bytes().all(is_tchar) {
        return Err(HttpError::bad("bad method"));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(HttpError::new(
            505,
            "version_not_supported",
            format!("{version:?} is not HTTP/1.1 or HTTP/1.0"),
        ));
    }
    if target.len() > MAX_TARGET {
        return Err(HttpError::new(
            414,
            "uri_too_long",
            format!("the target is over {MAX_TARGET} bytes"),
        ));
    }
    if !target.starts_with('/') || !target.bytes().all(|c| c.is_ascii_graphic()) {
        return Err(HttpError::bad(
            "the target must be a path starting with `/`",
        ));
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target, ""),
    };
    let segments = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| decode(s, false))
        .collect::<Result<Vec<_>, _>>()?;
    let mut q = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        q.push((decode(k, true)?, decode(v, true)?));
    }

    let mut headers = Vec::new();
    let mut content_length: Option<usize> = None;
    let mut expect_continue = false;
    for l in lines {
        let l = l?;
        if headers.len() >= MAX_HEADERS {
            return Err(HttpError::new(
                431,
                "header_too_large",
                format!("more than {MAX_HEADERS} headers"),
            ));
        }
        if l.first().is_some_and(|c| *c == b' ' || *c == b'\t') {
            return Err(HttpError::bad("folded header lines are not accepted"));
        }
        let Some(colon) = l.iter().position(|&c| c == b':') else {
            return Err(HttpError::bad("a header line has no `:`"));
        };
        let (name, value) = (&l[..colon], &l[colon + 1..]);
        if name.is_empty() || !name.iter().all(|&c| is_tchar(c)) {
            return Err(HttpError::bad("bad header name"));
        }
        if !value
            .iter()
            .all(|&c| c == b'\t' || (b' '..=b'~').contains(&c))
        {
            return Err(HttpError::bad("header values must be printable ASCII"));
        }
        // Both are ASCII now.
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        let value = String::from_utf8_lossy(value).trim().to_owned();
        match name.as_str() {
            "content-length" => {
                let n = (!value.is_empty()
                    && value.len() <= 19
                    && value.bytes().all(|c| c.is_ascii_digit()))
                .then(|| value.parse::<u64>().ok())
                .flatten()
                .ok_or_else(|| HttpError::bad("Content-Length is not a number"))?;
                if n > MAX_BODY as u64 {
                    return Err(HttpError::new(
                        413,
                        "payload_too_large",
                        format!("the body is {n} bytes; at most {MAX_BODY} are accepted"),
                    ));
                }
                let n = n as usize;
                if content_length.is_some_and(|c| c != n) {
                    return Err(HttpError::bad("two different Content-Length headers"));
                }
                content_length = Some(n);
            }
            "transfer-encoding" => {
                return Err(HttpError::new(
                    501,
                    "not_implemented",
                    "Transfer-Encoding is not supported; send the body with Content-Length",
                ));
            }
            "expect" => {
                if value.eq_ignore_ascii_case("100-continue") {
                    expect_continue = true;
                } else {
                    return Err(HttpError::new(
                        417,
                        "expectation_failed",
                        format!("unknown expectation {value:?}"),
                    ));
                }
            }
            _ => {}
        }
        headers.push((name, value));
    }
    Ok(Some((
        Head {
            method: method.to_owned(),
            segments,
            query: q,
            headers,
            content_length: content_length.unwrap_or(0),
            expect_continue,
        },
        end,
    )))
}

/// Percent-decoding (and `+` as space in a query).
fn decode(s: &str, query: bool) -> Result<String, HttpError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |c: u8| char::from(c).to_digit(16);
                let (Some(h), Some(l)) = (
                    b.get(i + 1).and_then(|&c| hex(c)),
                    b.get(i + 2).and_then(|&c| hex(c)),
                ) else {
                    return Err(HttpError::bad(format!("bad percent-encoding in {s:?}")));
                };
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            b'+' if query => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| HttpError::bad(format!("{s:?} does not decode to UTF-8")))
}

/// Percent-encodes a path segment or query value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || b"-._~:".contains(&c) {
            out.push(char::from(c));
        } else {
            let _ = write!(out, "%{c:02X}");
        }
    }
    out
}

/// An answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Content-Type.
    pub content_type: &'static str,
    /// Further headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// The reason phrase of a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        414 => "URI Too Long",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

impl Response {
    /// A JSON answer.
    pub fn json(status: u16, v: &serde_json::Value) -> Response {
        let mut body = serde_json::to_vec_pretty(v).unwrap_or_else(|_| b"{}".to_vec());
        body.push(b'\n');
        Response {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body,
        }
    }

    /// `{"error": error, "reason": reason}`.
    pub fn error(status: u16, error: &str, reason: impl Into<String>) -> Response {
        Response::json(
            status,
            &serde_json::json!({"error": error, "reason": reason.into()}),
        )
    }

    /// A text answer.
    pub fn text(status: u16, content_type: &'static str, body: String) -> Response {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into_bytes(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    /// The bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n",
            self.status,
            reason_phrase(self.status),
            self.content_type,
            self.body.len()
        );
        for (n, v) in &self.headers {
            let _ = write!(head, "{n}: {v}\r\n");
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

impl From<HttpError> for Response {
    fn from(e: HttpError) -> Response {
        Response::error(e.status, e.error, e.reason)
    }
}

/// A response read back: status, headers (lower-case names) and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// Parses a whole response (the connection was closed after it).
pub fn parse_response(bytes: &[u8]) -> Result<Answer, String> {
    let end = head_end(bytes).ok_or("the answer has no complete head")?;
    let head = String::from_utf8_lossy(&bytes[..end - 4]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let (Some(v), Some(code)) = (parts.next(), parts.next()) else {
        return Err(format!("bad status line {status_line:?}"));
    };
    if !v.starts_with("HTTP/1.") {
        return Err(format!("bad status line {status_line:?}"));
    }
    let status: u16 = code
        .parse()
        .map_err(|_| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = bytes[end..].to_vec();
    if let Some(n) = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        if body.len() < n {
            return Err(format!(
                "the answer was cut short: {} of {n} body bytes",
                body.len()
            ));
        }
        body.truncate(n);
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(s: &str) -> Result<Option<(Head, usize)>, HttpError> {
        parse_head(s.as_bytes())
    }

    #[test]
    fn a_request_is_parsed_with_its_query_and_headers() {
        let text = "GET /v1/leases/10.0.0.5?state=active,expired&x=a%20b+c HTTP/1.1\r\nHost: h\r\nAuthorization:  Bearer abc \r\n\r\nrest";
        let (h, n) = head(text).unwrap().unwrap();
        assert_eq!(n, text.len() - 4);
        assert_eq!(h.method, "GET");
        assert_eq!(h.segments, ["v1", "leases", "10.0.0.5"]);
        assert_eq!(
            h.query,
            [
                ("state".to_owned(), "active,expired".to_owned()),
                ("x".to_owned(), "a b c".to_owned())
            ]
        );
        assert_eq!(h.header("authorization"), Some("Bearer abc"));
        assert_eq!(h.content_length, 0);
    }

    #[test]
    fn incomplete_heads_wait_and_long_ones_are_refused() {
        assert_eq!(head("GET / HTTP/1.1\r\nHost: x\r\n"), Ok(None));
        let long = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_HEAD));
        assert_eq!(head(&long).unwrap_err().status, 431);
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X{i}: y\r\n")).collect();
        assert_eq!(
            head(&format!("GET / HTTP/1.1\r\n{many}\r\n"))
                .unwrap_err()
                .status,
            431
        );
    }

    #[test]
    fn malformed_requests_are_refused_with_a_status() {
        let cases = [
            ("GET /\r\n\r\n", 400),
            ("GET / HTTP/1.1 x\r\n\r\n", 400),
            ("G(T / HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/2.0\r\n\r\n", 505),
            ("GET x HTTP/1.1\r\n\r\n", 400),
            ("GET /%zz HTTP/1.1\r\n\r\n", 400),
            ("GET /%ff HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\n folded: x\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nX: \x01\r\n\r\n", 400),
            ("GET / HTTP/1.1\nX: y\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
            (
                "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
                400,
            ),
            ("POST / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n", 413),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
            ("POST / HTTP/1.1\r\nExpect: magic\r\n\r\n", 417),
        ];
        for (text, status) in cases {
            let e = head(text).unwrap_err();
            assert_eq!(e.status, status, "{text:?}: {e:?}");
        }
        let (h, _) = head("POST / HTTP/1.0\r\nContent-Length: 5\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((h.content_length, h.expect_continue), (5, true));
    }

    #[test]
    fn no_input_makes_the_parser_panic() {
        // A cheap deterministic sweep over mutations of a valid request.
        let base = b"POST /v1/leases?a=%41 HTTP/1.1\r\nContent-Length: 2\r\nAuthorization: Bearer t\r\n\r\n{}".to_vec();
        let mut x: u32 = 0x9e37_79b9;
        for _ in 0..20_000 {
            let mut m = base.clone();
            for _ in 0..(x % 4 + 1) {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let i = (x >> 8) as usize % m.len();
                match x % 3 {
                    0 => m[i] = (x >> 16) as u8,
                    1 => {
                        m.remove(i);
                    }
                    _ => m.insert(i, (x >> 20) as u8),
                }
            }
            let _ = parse_head(&m);
            let _ = parse_response(&m);
        }
    }

    #[test]
    fn responses_round_trip() {
        let r =
            Response::error(404, "not_found", "no lease for 10.0.0.9").with_header("X-Test", "1");
        let a = parse_response(&r.to_bytes()).unwrap();
        assert_eq!(a.status, 404);
        let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(v["error"], "not_found");
        assert_eq!(v["reason"], "no lease for 10.0.0.9");
        assert!(a.headers.contains(&("x-test".into(), "1".into())));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort").is_err());
        assert_eq!(decode(&encode("a b/ü%"), false).unwrap(), "a b/ü%");
    }
}
