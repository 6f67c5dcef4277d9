//! Config errors: each names the file, the line where known, the key and the reason.

use std::fmt;

/// One problem in a configuration file.
///
/// `key` is a path into the file in the form `subnet[2].reservations[0].ip-address`: table keys
/// joined by dots, array positions in brackets, **counted from 0** (the third `[[subnet]]` is
/// `subnet[2]`). It is empty when the problem is not about one key (a TOML syntax error, a file
/// that cannot be read). `line` is 1-based and `None` where the file has no place for the
/// problem (a required table missing altogether) or no file was read (a `TryFrom` conversion of
/// file structs built in code, where `file` is empty too).
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub struct ConfigError {
    /// The file, as given to [`super::load`] or [`super::parse`].
    pub file: String,
    /// 1-based line of the key (or of the table that lacks it).
    pub line: Option<u32>,
    /// Path of the key, array positions counted from 0.
    pub key: String,
    /// What is wrong, in words for the operator.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    /// `xdhcpd.toml:12: subnet[2].pools[0]: 10.0.1.5-10.0.1.9 is outside the subnet 10.0.0.0/24`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.file.is_empty() {
            f.write_str(&self.file)?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
            f.write_str(": ")?;
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.reason)
    }
}

/// Every problem found in a configuration, in file order (by line), each once.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The errors, in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none (a `ConfigErrors` returned as an `Err` is never empty).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ConfigErrors {
    /// One error a line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Collects problems while validation goes on; the file and lines are filled in at the end by
/// whoever knows the source.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<ConfigError>);

impl Problems {
    /// Records that `key` is wrong because of `reason`.
    pub(crate) fn push(&mut self, key: impl Into<String>, reason: impl fmt::Display) {
        self.0.push(ConfigError {
            file: String::new(),
            line: None,
            key: key.into(),
            reason: reason.to_string(),
        });
    }

    /// Records a finished error (one that already carries its place).
    pub(crate) fn push_error(&mut self, e: ConfigError) {
        self.0.push(e);
    }

    /// Runs `check`; on `Err` records it under `key` and yields `None`.
    pub(crate) fn check<T>(&mut self, key: impl Into<String>, r: Result<T, String>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(reason) => {
                self.push(key, reason);
                None
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many so far: a caller compares before and after to see whether a part had problems.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Applies `place` to every problem (to put the file and line on it).
    pub(crate) fn placed(self, place: impl Fn(ConfigError) -> ConfigError) -> Self {
        Self(self.0.into_iter().map(place).collect())
    }

    /// The problems, sorted by line (stable, so same-line problems keep their order), each once.
    pub(crate) fn into_errors(self) -> ConfigErrors {
        let mut v = self.0;
        v.sort_by_key(|e| e.line.unwrap_or(0));
        let mut seen = std::collections::HashSet::new();
        v.retain(|e| seen.insert(e.clone()));
        ConfigErrors(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(line: Option<u32>, key: &str, reason: &str) -> ConfigError {
        ConfigError {
            file: "xdhcpd.toml".into(),
            line,
            key: key.into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn display_names_file_line_key_and_reason() {
        let e = err(Some(12), "subnet[2].pools[0]", "outside");
        assert_eq!(e.to_string(), "xdhcpd.toml:12: subnet[2].pools[0]: outside");
        assert_eq!(
            err(None, "server", "missing").to_string(),
            "xdhcpd.toml: server: missing"
        );
        assert_eq!(
            err(Some(3), "", "syntax").to_string(),
            "xdhcpd.toml:3: syntax"
        );
    }

    #[test]
    fn errors_are_sorted_by_line_and_deduplicated() {
        let mut p = Problems::default();
        for e in [
            err(Some(9), "b", "x"),
            err(None, "a", "x"),
            err(Some(2), "c", "x"),
        ] {
            p.push_error(e.clone());
            p.push_error(e);
        }
        let errors = p.into_errors();
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["a", "c", "b"]);
        assert_eq!(
            errors.to_string(),
            "xdhcpd.toml: a: x\nxdhcpd.toml:2: c: x\nxdhcpd.toml:9: b: x"
        );
    }
}
