//! Who may do what. Reads are open to loopback and the Unix socket (whose file mode decides
//! who reaches it); anything else — every state-changing call, and reads from other
//! addresses — needs `Authorization: Bearer <token>`, the first line of `control.token-file`.
//! The file is read at start and again after each reload; without a usable token every
//! state-changing call is refused, saying why.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use super::http::{Head, Response};

/// Who is asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// Over the Unix socket.
    Unix,
    /// Over TCP from this address.
    Tcp(SocketAddr),
}

impl Peer {
    /// True for the Unix socket and loopback addresses.
    pub fn is_local(&self) -> bool {
        match self {
            Peer::Unix => true,
            Peer::Tcp(a) => match a.ip() {
                std::net::IpAddr::V4(v) => v.is_loopback(),
                std::net::IpAddr::V6(v) => {
                    v.is_loopback() || v.to_ipv4_mapped().is_some_and(|m| m.is_loopback())
                }
            },
        }
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Unix => f.write_str("unix-socket"),
            Peer::Tcp(a) => write!(f, "{a}"),
        }
    }
}

/// What a call does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Only reads.
    Read,
    /// Changes state.
    Change,
}

/// The token in force, or why there is none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    file: Option<PathBuf>,
    value: Result<String, String>,
}

impl Token {
    /// Reads the token from `file` (`None`: not configured).
    pub fn load(file: Option<&Path>) -> Token {
        let value = match file {
            None => Err("no token is configured (control.token-file = \"\")".to_owned()),
            Some(p) => match std::fs::read_to_string(p) {
                Err(e) => Err(format!(
                    "the token file {} cannot be read: {e}",
                    p.display()
                )),
                Ok(text) => {
                    let first = text.lines().next().unwrap_or("").trim().to_owned();
                    if first.is_empty() {
                        Err(format!("the token file {} is empty", p.display()))
                    } else {
                        Ok(first)
                    }
                }
            },
        };
        Token {
            file: file.map(Path::to_owned),
            value,
        }
    }

    /// Why changing calls are refused, when they are.
    pub fn problem(&self) -> Option<&str> {
        self.value.as_ref().err().map(String::as_str)
    }

    /// The file it came from.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// `Ok` when `peer` may make a call of kind `access` with the headers in `head`; otherwise
    /// the answer to send (401 without or with a wrong token, 403 when no token exists).
    pub fn check(&self, head: &Head, peer: Peer, access: Access) -> Result<(), Box<Response>> {
        if access == Access::Read && peer.is_local() {
            return Ok(());
        }
        let why = match access {
            Access::Change => "this call changes state",
            Access::Read => "reads from a non-loopback address need the token",
        };
        let expected = match &self.value {
            Ok(t) => t,
            Err(reason) => {
                return Err(Box::new(Response::error(
                    403,
                    "forbidden",
                    format!("{why}, and it is refused: {reason}"),
                )));
            }
        };
        let presented = head.header("authorization").and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
        let file = self.file.as_ref().map_or(String::new(), |p| {
            format!(" (the first line of {})", p.display())
        });
        match presented {
            None => Err(Box::new(
                Response::error(
                    401,
                    "unauthorized",
                    format!("{why}: send `Authorization: Bearer <token>`{file}"),
                )
                .with_header("WWW-Authenticate", "Bearer realm=\"xdhcpd\""),
            )),
            Some(p) if equal(p.as_bytes(), expected.as_bytes()) => Ok(()),
            Some(_) => Err(Box::new(
                Response::error(
                    401,
                    "unauthorized",
                    format!("{why}: the token does not match"),
                )
                .with_header(
                    "WWW-Authenticate",
                    "Bearer realm=\"xdhcpd\", error=\"invalid_token\"",
                ),
            )),
        }
    }
}

/// Compares without an early exit, so the time taken says nothing about how much matched.
fn equal(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::http::parse_head;

    fn head(auth: Option<&str>) -> Head {
        let h = match auth {
            Some(a) => format!("POST /v1/x HTTP/1.1\r\nAuthorization: {a}\r\n\r\n"),
            None => "POST /v1/x HTTP/1.1\r\n\r\n".to_owned(),
        };
        parse_head(h.as_bytes()).unwrap().unwrap().0
    }

    fn token(value: &str) -> Token {
        Token {
            file: Some("/etc/xdhcp/control.token".into()),
            value: Ok(value.into()),
        }
    }

    const LOOP: Peer = Peer::Tcp(SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        40000,
    ));
    const REMOTE: Peer = Peer::Tcp(SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 9)),
        40000,
    ));

    fn status(r: Result<(), Box<Response>>) -> u16 {
        r.map_or_else(|r| r.status, |()| 200)
    }

    #[test]
    fn reads_are_open_locally_and_changes_need_the_token() {
        let t = token("s3cret");
        assert_eq!(status(t.check(&head(None), LOOP, Access::Read)), 200);
        assert_eq!(status(t.check(&head(None), Peer::Unix, Access::Read)), 200);
        assert_eq!(status(t.check(&head(None), REMOTE, Access::Read)), 401);
        assert_eq!(
            status(t.check(&head(Some("Bearer s3cret")), REMOTE, Access::Read)),
            200
        );
        for peer in [LOOP, Peer::Unix, REMOTE] {
            assert_eq!(status(t.check(&head(None), peer, Access::Change)), 401);
            assert_eq!(
                status(t.check(&head(Some("Bearer s3cre")), peer, Access::Change)),
                401
            );
            assert_eq!(
                status(t.check(&head(Some("Basic s3cret")), peer, Access::Change)),
                401
            );
            assert_eq!(
                status(t.check(&head(Some("bearer  s3cret")), peer, Access::Change)),
                200
            );
        }
    }

    #[test]
    fn without_a_token_changes_are_forbidden_with_the_reason() {
        let dir = std::env::temp_dir().join(format!("xdhcp-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = Token::load(Some(&dir.join("missing")));
        let r = missing
            .check(&head(Some("Bearer x")), Peer::Unix, Access::Change)
            .unwrap_err();
        assert_eq!(r.status, 403);
        let body = String::from_utf8_lossy(&r.body).into_owned();
        assert!(body.contains("cannot be read"), "{body}");
        std::fs::write(dir.join("empty"), "\n").unwrap();
        assert!(
            Token::load(Some(&dir.join("empty")))
                .problem()
                .unwrap()
                .contains("is empty")
        );
        std::fs::write(dir.join("ok"), "  tok  \nignored\n").unwrap();
        let ok = Token::load(Some(&dir.join("ok")));
        assert_eq!(ok.problem(), None);
        assert_eq!(
            status(ok.check(&head(Some("Bearer tok")), Peer::Unix, Access::Change)),
            200
        );
        assert_eq!(
            Token::load(None)
                .check(&head(None), Peer::Unix, Access::Change)
                .unwrap_err()
                .status,
            403
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn comparison_is_exact() {
        assert!(equal(b"abc", b"abc"));
        assert!(!equal(b"abc", b"abd"));
        assert!(!equal(b"abc", b"ab"));
        assert!(!equal(b"", b"a"));
        assert!(equal(b"", b""));
    }
}
