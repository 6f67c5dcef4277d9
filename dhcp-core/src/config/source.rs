//! The TOML text as a span-keeping document: reads the file structs piece by piece (`[server]`,
//! `[lease]`, each subnet, each reservation, each failover relationship), so that an unknown key in one piece does not hide
//! the problems of the others, and puts file names and line numbers on errors.

use std::ops::Range;

use serde::de::{DeserializeOwned, IntoDeserializer};
use toml_edit::{ImDocument, Item, Table, Value};

use super::error::{ConfigError, Problems};
use super::file::{ControlFile, FailoverFile, LeaseFile, ReservationFile, ServerFile, SubnetFile};

/// Most attempts at reading one piece (see [`Source::piece`]).
const PIECE_ATTEMPTS: usize = 64;

/// What could be read of the file. A piece that failed to deserialize is `None` (its problem is
/// already recorded); the rest is still checked, at the positions it had in the file.
#[derive(Debug, Default)]
pub(crate) struct Pieces {
    /// `[server]`.
    pub server: Option<ServerFile>,
    /// `[lease]` (the default `LeaseFile` when the table is absent).
    pub lease: Option<LeaseFile>,
    /// Each `[[subnet]]` without its reservations, with its reservations beside it.
    pub subnets: Vec<Option<(SubnetFile, Vec<Option<ReservationFile>>)>>,
    /// Each `[[failover]]`.
    pub failover: Vec<Option<FailoverFile>>,
    /// `[control]` (the default `ControlFile` when the table is absent).
    pub control: Option<ControlFile>,
}

/// A parsed TOML document and the name to report it under.
pub(crate) struct Source<'a> {
    file: &'a str,
    text: &'a str,
    doc: ImDocument<&'a str>,
}

impl<'a> Source<'a> {
    /// Parses the TOML syntax; a syntax error comes back as the one error.
    pub(crate) fn parse(text: &'a str, file: &'a str) -> Result<Self, ConfigError> {
        match ImDocument::parse(text) {
            Ok(doc) => Ok(Self { file, text, doc }),
            Err(e) => {
                let at = e.span().map_or(0, |s| s.start);
                let column = at - text[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
                Err(ConfigError {
                    file: file.to_owned(),
                    line: Some(line_at(text, at)),
                    key: String::new(),
                    reason: format!("{} (column {column})", one_line(e.message())),
                })
            }
        }
    }

    /// Deserializes every piece it can, recording the problems of the others.
    pub(crate) fn pieces(&self, problems: &mut Problems) -> Pieces {
        let mut out = Pieces {
            lease: Some(LeaseFile::default()),
            control: Some(ControlFile::default()),
            ..Pieces::default()
        };
        let root = self.doc.as_table();
        for (name, item) in root.iter() {
            match name {
                "server" => out.server = self.piece(item, "server", problems),
                "lease" => out.lease = self.piece(item, "lease", problems),
                "control" => out.control = self.piece(item, "control", problems),
                "subnet" => {
                    for (i, subnet) in self.elements(item, "subnet", problems).iter().enumerate() {
                        out.subnets
                            .push(self.subnet(subnet, &format!("subnet[{i}]"), problems));
                    }
                }
                "failover" => {
                    for (i, f) in self.elements(item, "failover", problems).iter().enumerate() {
                        out.failover
                            .push(self.piece(f, &format!("failover[{i}]"), problems));
                    }
                }
                _ => {
                    let span = root.key(name).and_then(|k| k.span());
                    problems.push_error(self.error(
                        name.to_owned(),
                        span,
                        format!(
                            "unknown key `{name}`, expected one of `server`, `lease`, `subnet`, `failover`, `control`"
                        ),
                    ));
                }
            }
        }
        if root.get("server").is_none() {
            problems.push_error(self.error(
                "server".into(),
                None,
                "required table [server] is missing".into(),
            ));
        }
        out
    }

    /// One subnet, its reservations read one by one.
    fn subnet(
        &self,
        item: &Item,
        key: &str,
        problems: &mut Problems,
    ) -> Option<(SubnetFile, Vec<Option<ReservationFile>>)> {
        let mut without = item.clone();
        let reservations = without
            .as_table_like_mut()
            .and_then(|t| t.remove("reservations"));
        let reservations = match &reservations {
            Some(r) => {
                let key = format!("{key}.reservations");
                let elements = self.elements(r, &key, problems);
                (elements.iter().enumerate())
                    .map(|(i, r)| self.piece(r, &format!("{key}[{i}]"), problems))
                    .collect()
            }
            None => Vec::new(),
        };
        // `without` keeps the spans of `item`, so errors still point into the file.
        let subnet = self.piece(&without, key, problems)?;
        Some((subnet, reservations))
    }

    /// The elements of an array of tables (`[[x]]`) or of an inline array (`x = [..]`).
    fn elements(&self, item: &Item, key: &str, problems: &mut Problems) -> Vec<Item> {
        match item {
            Item::ArrayOfTables(a) => a.iter().map(|t| Item::Table(t.clone())).collect(),
            Item::Value(Value::Array(a)) => a.iter().map(|v| Item::Value(v.clone())).collect(),
            _ => {
                problems.push_error(self.error(
                    key.to_owned(),
                    item.span(),
                    format!("expected an array of tables ([[{key}]])"),
                ));
                Vec::new()
            }
        }
    }

    /// Deserializes one piece. On failure records where and why, and when the culprit is a
    /// key that can simply be left out (an unknown key, a value of the wrong type) leaves it
    /// out and tries again, so that one piece reports all its unknown keys at once and the rest
    /// of it is still checked. A required key that is missing or wrong ends the attempts.
    fn piece<T: DeserializeOwned>(
        &self,
        item: &Item,
        key: &str,
        problems: &mut Problems,
    ) -> Option<T> {
        let mut item = item.clone();
        let mut removed: Vec<Vec<Seg>> = Vec::new();
        // Each attempt removes one key, so this bound is never reached on a real file.
        for _ in 0..PIECE_ATTEMPTS {
            let value = item.clone().into_value().ok()?;
            let e = match T::deserialize(value.into_deserializer()) {
                Ok(v) => return Some(v),
                Err(e) => e,
            };
            let message = one_line(e.message());
            let segs = match (e.span(), missing_field(&message)) {
                (Some(span), _) => segs_at(&item, span.start),
                (None, Some(field)) => vec![Seg::Key(field.to_owned())],
                (None, None) => Vec::new(),
            };
            if removed.iter().any(|r| segs.starts_with(r)) {
                // Required, and already reported as wrong: "missing" would only repeat it.
                return None;
            }
            let span = e.span().or_else(|| item.span());
            problems.push_error(self.error(render(key, &segs), span, operator_words(&message)));
            if !remove(&mut item, &segs) {
                return None;
            }
            removed.push(segs);
        }
        None
    }

    fn error(&self, key: String, span: Option<Range<usize>>, reason: String) -> ConfigError {
        ConfigError {
            file: self.file.to_owned(),
            line: span.map(|s| line_at(self.text, s.start)),
            key,
            reason,
        }
    }

    /// Puts the file name, and the line of the key (or of its nearest existing parent), on
    /// problems found after deserialization.
    pub(crate) fn locate(&self, mut e: ConfigError) -> ConfigError {
        if e.file.is_empty() {
            e.file = self.file.to_owned();
        }
        if e.line.is_none() {
            e.line = span_of(self.doc.as_item(), &e.key).map(|s| line_at(self.text, s.start));
        }
        e
    }
}

/// 1-based line of byte offset `at`.
fn line_at(text: &str, at: usize) -> u32 {
    let upto = &text.as_bytes()[..at.min(text.len())];
    let newlines = upto.iter().filter(|&&b| b == b'\n').count();
    u32::try_from(newlines + 1).unwrap_or(u32::MAX)
}

/// toml_edit's messages may span lines; an error is one line.
fn one_line(message: &str) -> String {
    message.trim().replace('\n', "; ")
}

/// `missing field `id`` -> `id`.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.strip_suffix('`')
}

/// serde speaks of fields and variants; the file has keys and values.
fn operator_words(message: &str) -> String {
    if missing_field(message).is_some() {
        return "required key is missing".into();
    }
    for (serde_words, ours) in [
        ("unknown field", "unknown key"),
        ("unknown variant", "unknown value"),
    ] {
        if let Some(rest) = message.strip_prefix(serde_words) {
            return format!("{ours}{rest}");
        }
    }
    message.to_owned()
}

/// A place in the document tree: table entries are items, array elements values, and the
/// elements of an array of tables tables.
#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Value(&'a Value),
    Table(&'a Table),
}

/// One step down: a key (with the key's own span) or an array position.
enum Step<'a> {
    Key(&'a str, Option<Range<usize>>),
    Index(usize),
}

impl<'a> Node<'a> {
    fn span(self) -> Option<Range<usize>> {
        match self {
            Node::Item(i) => i.span(),
            Node::Value(v) => v.span(),
            Node::Table(t) => t.span(),
        }
    }

    fn children(self) -> Vec<(Step<'a>, Node<'a>)> {
        let table = match self {
            Node::Item(Item::Table(t)) | Node::Table(t) => Some(t as &dyn toml_edit::TableLike),
            Node::Item(Item::Value(Value::InlineTable(t))) | Node::Value(Value::InlineTable(t)) => {
                Some(t as &dyn toml_edit::TableLike)
            }
            _ => None,
        };
        if let Some(t) = table {
            return t
                .iter()
                .filter_map(|(k, _)| t.get_key_value(k))
                .map(|(k, item)| (Step::Key(k.get(), k.span()), Node::Item(item)))
                .collect();
        }
        match self {
            Node::Item(Item::ArrayOfTables(a)) => (a.iter().enumerate())
                .map(|(i, t)| (Step::Index(i), Node::Table(t)))
                .collect(),
            Node::Item(Item::Value(Value::Array(a))) | Node::Value(Value::Array(a)) => {
                (a.iter().enumerate())
                    .map(|(i, v)| (Step::Index(i), Node::Value(v)))
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    fn child(self, step: &str) -> Option<Node<'a>> {
        (self.children().into_iter())
            .find(|(s, _)| match s {
                Step::Key(k, _) => *k == step,
                Step::Index(i) => {
                    step.strip_prefix('[').and_then(|s| s.strip_suffix(']'))
                        == Some(i.to_string().as_str())
                }
            })
            .map(|(_, n)| n)
    }
}

fn contains(span: &Option<Range<usize>>, at: usize) -> bool {
    span.as_ref()
        .is_some_and(|s| s.contains(&at) || s.start == at)
}

/// One step of a key path, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// `prefix` and `segs` as `a.b[2].c`.
fn render(prefix: &str, segs: &[Seg]) -> String {
    let mut out = prefix.to_owned();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The path to the deepest key or value of `item` whose text holds byte `at`.
fn segs_at(item: &Item, at: usize) -> Vec<Seg> {
    fn find(node: Node<'_>, at: usize, path: &mut Vec<Seg>) -> bool {
        for (step, child) in node.children() {
            let on_key = matches!(&step, Step::Key(_, span) if contains(span, at));
            path.push(match step {
                Step::Key(k, _) => Seg::Key(k.to_owned()),
                Step::Index(i) => Seg::Index(i),
            });
            // Dotted keys make tables without a span of their own: look inside regardless.
            if on_key || find(child, at, path) || contains(&child.span(), at) {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = Vec::new();
    find(Node::Item(item), at, &mut path);
    path
}

/// Removes the key at `segs` from `item`; false when `segs` does not end in a key that exists
/// (an array element cannot go without renumbering the ones after it).
fn remove(item: &mut Item, segs: &[Seg]) -> bool {
    fn in_value(v: &mut Value, segs: &[Seg]) -> bool {
        match (v, segs) {
            (Value::InlineTable(t), [Seg::Key(k)]) => t.remove(k).is_some(),
            (Value::InlineTable(t), [Seg::Key(k), rest @ ..]) => {
                t.get_mut(k).is_some_and(|v| in_value(v, rest))
            }
            (Value::Array(a), [Seg::Index(i), rest @ ..]) if !rest.is_empty() => {
                a.get_mut(*i).is_some_and(|v| in_value(v, rest))
            }
            _ => false,
        }
    }
    fn in_table(t: &mut Table, segs: &[Seg]) -> bool {
        match segs {
            [Seg::Key(k)] => t.remove(k).is_some(),
            [Seg::Key(k), rest @ ..] => t.get_mut(k).is_some_and(|i| remove(i, rest)),
            _ => false,
        }
    }
    match (item, segs) {
        (Item::Table(t), _) => in_table(t, segs),
        (Item::Value(v), _) => in_value(v, segs),
        (Item::ArrayOfTables(a), [Seg::Index(i), rest @ ..]) => {
            a.get_mut(*i).is_some_and(|t| in_table(t, rest))
        }
        _ => false,
    }
}

/// The span of `key` (`a.b[2].c`), or of its deepest part that exists.
fn span_of(root: &Item, key: &str) -> Option<Range<usize>> {
    let mut node = Node::Item(root);
    let mut span = None;
    for part in key.split('.') {
        let (name, indexes) = part.split_at(part.find('[').unwrap_or(part.len()));
        let steps = std::iter::once(name)
            .filter(|n| !n.is_empty())
            .chain(indexes.split_inclusive(']'));
        for step in steps {
            match node.child(step) {
                Some(n) => {
                    node = n;
                    span = n.span().or(span);
                }
                None => return span,
            }
        }
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# comment
[server]
interfaces = ["eth0"]
xdp.attach = "skb"

[[subnet]]
id = 1
network = "10.0.0.0/24"
pools = [
  "10.0.0.10-10.0.0.20",
  "10.0.0.30-10.0.0.40",
]

[[subnet.reservations]]
hw-address = "02:00:00:00:00:01"
ip-address = "10.0.0.5"

[[subnet]]
id = 2
network = "10.0.1.0/24"
reservations = [{ hw-address = "02:00:00:00:00:02", ip-address = "10.0.1.5" }]
"#;

    fn doc() -> Source<'static> {
        Source::parse(TEXT, "x.toml").unwrap()
    }

    fn line(key: &str) -> Option<u32> {
        let s = doc();
        span_of(s.doc.as_item(), key).map(|r| line_at(TEXT, r.start))
    }

    #[test]
    fn key_paths_resolve_to_lines() {
        assert_eq!(line("server"), Some(2));
        assert_eq!(line("server.interfaces[0]"), Some(3));
        assert_eq!(line("server.xdp.attach"), Some(4));
        assert_eq!(line("subnet[0]"), Some(6));
        assert_eq!(line("subnet[0].pools[1]"), Some(11));
        assert_eq!(line("subnet[0].reservations[0].ip-address"), Some(16));
        assert_eq!(line("subnet[1].reservations[0].ip-address"), Some(21));
        // A missing key points at its table.
        assert_eq!(line("subnet[1].lease.default"), Some(18));
        assert_eq!(line("nothing"), None);
    }

    #[test]
    fn spans_resolve_to_key_paths() {
        let s = doc();
        let root = s.doc.as_item();
        let at = |needle: &str| TEXT.find(needle).unwrap();
        let path = |needle| render("", &segs_at(root, at(needle)));
        assert_eq!(path("\"10.0.0.30"), "subnet[0].pools[1]");
        assert_eq!(path("attach"), "server.xdp.attach");
        assert_eq!(
            path("\"02:00:00:00:00:02"),
            "subnet[1].reservations[0].hw-address"
        );
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let e = Source::parse("[server]\ninterfaces = [\"eth0\"\n", "x.toml")
            .err()
            .unwrap();
        assert_eq!(e.file, "x.toml");
        assert_eq!(e.line, Some(3));
        assert_eq!(e.key, "");
        assert!(e.reason.contains("column 1"), "{}", e.reason);
        let e = Source::parse("a = 1\na = 2\n", "x.toml").err().unwrap();
        assert_eq!(
            e.to_string(),
            "x.toml:2: duplicate key `a` in document root (column 1)"
        );
    }

    #[test]
    fn serde_words_become_file_words() {
        assert_eq!(
            operator_words("missing field `id`"),
            "required key is missing"
        );
        assert_eq!(
            operator_words("unknown field `x`, expected `y`"),
            "unknown key `x`, expected `y`"
        );
        assert_eq!(
            operator_words("unknown variant `q`, expected `xdp` or `socket`"),
            "unknown value `q`, expected `xdp` or `socket`"
        );
    }
}
