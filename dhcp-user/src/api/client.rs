//! A blocking client for the control API (xdhcpctl, the tests): one request per connection,
//! over the Unix socket or TCP.

use std::{
    io::{Read, Write},
    net::{TcpStream, ToSocketAddrs},
    os::unix::net::UnixStream,
    path::PathBuf,
    time::Duration,
};

use super::http::{self, Answer};

/// Where the API listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A Unix socket.
    Unix(PathBuf),
    /// `host:port` over TCP.
    Tcp(String),
}

impl Endpoint {
    /// From `http://host:port` (a trailing `/` allowed) or a bare `host:port`.
    pub fn from_url(url: &str) -> Result<Endpoint, String> {
        let rest = url.strip_prefix("http://").unwrap_or(url);
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains('/') {
            return Err(format!(
                "`{url}` is not http://HOST:PORT (paths and https are not supported)"
            ));
        }
        Ok(Endpoint::Tcp(rest.to_owned()))
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
            Endpoint::Tcp(a) => write!(f, "http://{a}"),
        }
    }
}

/// A client with an optional bearer token.
#[derive(Clone, Debug)]
pub struct Client {
    /// Where to connect.
    pub endpoint: Endpoint,
    /// Sent as `Authorization: Bearer …` when set.
    pub token: Option<String>,
    /// Connect, write and read timeout.
    pub timeout: Duration,
}

impl Client {
    /// A client for `endpoint` without a token, with a 30 s timeout.
    pub fn new(endpoint: Endpoint) -> Client {
        Client {
            endpoint,
            token: None,
            timeout: Duration::from_secs(30),
        }
    }

    /// Sends `method path` (the path with its query, already encoded) with an optional JSON
    /// body; returns the answer whatever its status.
    pub fn call(&self, method: &str, path: &str, body: Option<&[u8]>) -> Result<Answer, String> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: xdhcpd\r\nConnection: close\r\n");
        if let Some(t) = &self.token {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        if let Some(b) = body {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        if let Some(b) = body {
            bytes.extend_from_slice(b);
        }
        self.raw(&bytes)
    }

    /// Sends `bytes` as they are and reads the answer (tests send malformed requests).
    pub fn raw(&self, bytes: &[u8]) -> Result<Answer, String> {
        let what = |e: std::io::Error| format!("{}: {e}", self.endpoint);
        let mut out = Vec::new();
        match &self.endpoint {
            Endpoint::Unix(p) => {
                let mut s = UnixStream::connect(p).map_err(what)?;
                s.set_read_timeout(Some(self.timeout)).map_err(what)?;
                s.set_write_timeout(Some(self.timeout)).map_err(what)?;
                s.write_all(bytes).map_err(what)?;
                s.read_to_end(&mut out).map_err(what)?;
            }
            Endpoint::Tcp(a) => {
                let addr = a
                    .to_socket_addrs()
                    .map_err(what)?
                    .next()
                    .ok_or_else(|| format!("{a}: no address"))?;
                let mut s = TcpStream::connect_timeout(&addr, self.timeout).map_err(what)?;
                s.set_read_timeout(Some(self.timeout)).map_err(what)?;
                s.set_write_timeout(Some(self.timeout)).map_err(what)?;
                s.write_all(bytes).map_err(what)?;
                s.read_to_end(&mut out).map_err(what)?;
            }
        }
        http::parse_response(&out).map_err(|e| format!("{}: {e}", self.endpoint))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            Endpoint::from_url("http://127.0.0.1:8067/"),
            Ok(Endpoint::Tcp("127.0.0.1:8067".into()))
        );
        assert_eq!(
            Endpoint::from_url("[::1]:8067"),
            Ok(Endpoint::Tcp("[::1]:8067".into()))
        );
        assert!(Endpoint::from_url("http://h:1/v1").is_err());
        assert!(Endpoint::from_url("").is_err());
    }
}
