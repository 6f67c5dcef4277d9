//! `[control]` -> [`ControlSettings`]: where the control API and the metrics endpoint listen.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::defaults as d;
use super::error::{ConfigErrors, Problems};
use super::file::ControlFile;
use super::model::ControlSettings;

impl TryFrom<ControlFile> for ControlSettings {
    type Error = ConfigErrors;

    /// Checks `[control]` alone; errors carry keys but no file (see [`ConfigErrors`]).
    fn try_from(f: ControlFile) -> Result<Self, ConfigErrors> {
        let mut p = Problems::default();
        match control(&f, &mut p) {
            Some(c) if p.is_empty() => Ok(c),
            _ => Err(p.into_errors()),
        }
    }
}

/// Converts `[control]`, recording every problem; `None` when there was one.
pub(crate) fn control(f: &ControlFile, p: &mut Problems) -> Option<ControlSettings> {
    let before = p.len();
    let listen = match f.listen.as_deref().unwrap_or(d::CONTROL_LISTEN) {
        "" => Some(None),
        s => p.check("control.listen", listen_address(s)).map(Some),
    };
    let socket = match f.socket.as_deref().unwrap_or(d::CONTROL_SOCKET) {
        "" => Some(None),
        s => p.check("control.socket", socket_path(s)).map(Some),
    };
    let token_file = match f.token_file.as_deref().unwrap_or(d::CONTROL_TOKEN_FILE) {
        "" => Some(None),
        s => p.check("control.token-file", absolute(s)).map(Some),
    };
    let metrics = match f.metrics.as_deref() {
        None => listen,
        Some("") => Some(None),
        Some(s) => p.check("control.metrics", listen_address(s)).map(Some),
    };
    if p.len() != before {
        return None;
    }
    Some(ControlSettings {
        listen: listen?,
        socket: socket?,
        token_file: token_file?,
        metrics: metrics?,
    })
}

/// `address:port`, IPv6 in brackets; port 0 (any port) is refused: operators and scrapers
/// need to know where to connect.
fn listen_address(s: &str) -> Result<SocketAddr, String> {
    let a: SocketAddr = s.parse().map_err(|_| {
        format!("`{s}` is not an address and port (e.g. \"127.0.0.1:8067\", \"[::1]:8067\")")
    })?;
    if a.port() == 0 {
        return Err(format!("`{s}` has port 0; name the port to listen on"));
    }
    Ok(a)
}

fn absolute(s: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(s);
    if path.is_absolute() {
        Ok(path)
    } else {
        Err(format!("`{s}` is not an absolute path"))
    }
}

fn socket_path(s: &str) -> Result<PathBuf, String> {
    if s.len() > d::CONTROL_SOCKET_MAX_BYTES {
        return Err(format!(
            "`{s}` is {} bytes; a Unix socket path holds at most {}",
            s.len(),
            d::CONTROL_SOCKET_MAX_BYTES
        ));
    }
    absolute(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(f: ControlFile) -> Vec<String> {
        let e = ControlSettings::try_from(f).unwrap_err();
        e.iter()
            .map(|e| format!("{}: {}", e.key, e.reason))
            .collect()
    }

    #[test]
    fn defaults_listen_on_loopback_and_the_runtime_socket() {
        let c = ControlSettings::try_from(ControlFile::default()).unwrap();
        assert_eq!(c, ControlSettings::default());
        assert_eq!(c.listen, Some("127.0.0.1:8067".parse().unwrap()));
        assert_eq!(c.metrics, c.listen);
        assert_eq!(c.socket, Some(PathBuf::from("/run/xdhcp/control.sock")));
        assert_eq!(
            c.token_file,
            Some(PathBuf::from("/etc/xdhcp/control.token"))
        );
    }

    #[test]
    fn empty_strings_turn_listeners_off_and_metrics_follow_listen() {
        let c = ControlSettings::try_from(ControlFile {
            listen: Some(String::new()),
            socket: Some(String::new()),
            token_file: Some(String::new()),
            metrics: None,
        })
        .unwrap();
        assert_eq!(
            (c.listen, c.socket, c.token_file, c.metrics),
            (None, None, None, None)
        );
        let c = ControlSettings::try_from(ControlFile {
            listen: Some("[::1]:9000".into()),
            metrics: Some("0.0.0.0:9100".into()),
            ..ControlFile::default()
        })
        .unwrap();
        assert_eq!(c.listen, Some("[::1]:9000".parse().unwrap()));
        assert_eq!(c.metrics, Some("0.0.0.0:9100".parse().unwrap()));
    }

    #[test]
    fn bad_values_are_named() {
        assert_eq!(
            errors(ControlFile {
                listen: Some("localhost".into()),
                socket: Some("control.sock".into()),
                token_file: Some("token".into()),
                metrics: Some("127.0.0.1:0".into()),
            }),
            [
                "control.listen: `localhost` is not an address and port (e.g. \"127.0.0.1:8067\", \"[::1]:8067\")",
                "control.socket: `control.sock` is not an absolute path",
                "control.token-file: `token` is not an absolute path",
                "control.metrics: `127.0.0.1:0` has port 0; name the port to listen on",
            ]
        );
        let long = format!("/{}", "x".repeat(110));
        assert_eq!(
            errors(ControlFile {
                socket: Some(long.clone()),
                ..ControlFile::default()
            }),
            [format!(
                "control.socket: `{long}` is 111 bytes; a Unix socket path holds at most 107"
            )]
        );
    }
}
