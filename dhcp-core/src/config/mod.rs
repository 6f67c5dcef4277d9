//! Configuration: one TOML file, parsed with serde into the [`file`] structs, converted with
//! `TryFrom` into the validated [`model`] types. Errors name the file, the line, the key and the
//! reason, and every problem of a file is reported at once.
//!
//! `examples/xdhcpd.toml` at the repository root documents every key; the defaults are in
//! [`defaults`]. Key paths in errors count array positions from 0 (`subnet[0]` is the first
//! `[[subnet]]`).

mod build;
mod control;
pub mod defaults;
pub mod edit;
mod error;
mod failover;
pub mod file;
mod lease;
pub mod model;
mod options;
mod reservation;
mod server;
mod source;
mod subnet;
mod values;

use std::path::Path;

pub use error::{ConfigError, ConfigErrors};
pub use model::*;
pub use options::managed_option;
/// The identifier keys of `[[subnet.reservations]]` (`hw-address`, `client-id`, …).
pub use reservation::IDENTIFIERS as RESERVATION_IDENTIFIERS;
/// Hex bytes as the file takes them (`0a0b0c`, `0x0a0b0c`, `0a:0b:0c`, `0a-0b-0c`).
pub use values::hex as parse_hex;

use error::Problems;
use source::Source;

/// Reads and checks the configuration file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, &file),
        Err(e) => Err(ConfigErrors(vec![ConfigError {
            file,
            line: None,
            key: String::new(),
            reason: format!("cannot read the file: {e}"),
        }])),
    }
}

/// Checks configuration `text`; `file_name` is what errors call the file.
pub fn parse(text: &str, file_name: &str) -> Result<Config, ConfigErrors> {
    let source = Source::parse(text, file_name).map_err(|e| ConfigErrors(vec![e]))?;
    let mut found = Problems::default();
    let pieces = source.pieces(&mut found);
    if let Some(config) = build::build(&pieces, &mut found) {
        return Ok(config);
    }
    Err(found.placed(|e| source.locate(e)).into_errors())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &str) -> Vec<String> {
        let e = parse(text, "x.toml").unwrap_err();
        e.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn an_empty_file_needs_a_server() {
        assert_eq!(
            shown(""),
            ["x.toml: server: required table [server] is missing"]
        );
    }

    #[test]
    fn lines_count_with_crlf_endings_too() {
        let text = "[server]\r\ninterfaces = [\"eth0\"]\r\nworkers = 0\r\n";
        assert_eq!(
            shown(text),
            ["x.toml:3: server.workers: 0 is not between 1 and 1024"]
        );
    }

    #[test]
    fn load_reads_the_file_it_is_given() {
        let dir = std::env::temp_dir().join(format!("xdhcp-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.toml");
        std::fs::write(&path, "[server]\ninterfaces = [\"eth0\"]\n").unwrap();
        let c = load(&path).unwrap();
        assert_eq!(c.server.interfaces[0].name, "eth0");
        assert!(c.subnets.is_empty());
        std::fs::write(&path, "[server]\ninterfaces = []\n").unwrap();
        let e = load(&path).unwrap_err();
        assert_eq!(e.0[0].file, path.display().to_string());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
