//! Editing configuration files in place, keeping the operator's comments and layout: the
//! `[[subnet]]` tables of a failover relationship's scopes are cut out of one server's file and
//! spliced into its partner's (scope replication, like Windows'
//! `Invoke-DhcpServerv4FailoverReplication`).

use toml_edit::{ArrayOfTables, DocumentMut, Item};

use super::SubnetId;

fn parse(text: &str, what: &str) -> Result<DocumentMut, String> {
    text.parse::<DocumentMut>()
        .map_err(|e| format!("{what}: not valid TOML: {}", e.message()))
}

fn table_id(t: &toml_edit::Table) -> Option<u32> {
    t.get("id")
        .and_then(Item::as_integer)
        .and_then(|i| u32::try_from(i).ok())
}

/// The `[[subnet]]` tables of `text` whose id is in `ids`, as a TOML document of their own
/// (comments and layout kept). Every id must be there.
pub fn subnet_tables(text: &str, ids: &[SubnetId]) -> Result<String, String> {
    let doc = parse(text, "configuration file")?;
    let Some(all) = doc.get("subnet").and_then(Item::as_array_of_tables) else {
        return Err("configuration file: no [[subnet]] tables".into());
    };
    let mut out = ArrayOfTables::new();
    for id in ids {
        let t = all
            .iter()
            .find(|t| table_id(t) == Some(id.0))
            .ok_or_else(|| format!("configuration file: no [[subnet]] with id = {}", id.0))?;
        out.push(t.clone());
    }
    let mut d = DocumentMut::new();
    d.insert("subnet", Item::ArrayOfTables(out));
    Ok(d.to_string())
}

/// `own` with every `[[subnet]]` table of `incoming` in place of the table with the same id
/// (appended when `own` has none); returns the new text and the ids replaced or added.
pub fn splice_subnets(own: &str, incoming: &str) -> Result<(String, Vec<u32>), String> {
    let mut doc = parse(own, "configuration file")?;
    let inc = parse(incoming, "replicated scopes")?;
    let Some(new) = inc.get("subnet").and_then(Item::as_array_of_tables) else {
        return Err("replicated scopes: no [[subnet]] tables".into());
    };
    if inc.iter().count() != 1 {
        return Err("replicated scopes: only [[subnet]] tables may be replicated".into());
    }
    let mut ids = Vec::new();
    if doc.get("subnet").is_none() {
        doc.insert("subnet", Item::ArrayOfTables(ArrayOfTables::new()));
    }
    let Some(all) = doc.get_mut("subnet").and_then(Item::as_array_of_tables_mut) else {
        return Err("configuration file: `subnet` is not an array of tables".into());
    };
    for t in new.iter() {
        let Some(id) = table_id(t) else {
            return Err("replicated scopes: a [[subnet]] without an integer id".into());
        };
        ids.push(id);
        let at = all.iter().position(|o| table_id(o) == Some(id));
        match at.and_then(|i| all.get_mut(i)) {
            Some(o) => *o = t.clone(),
            None => all.push(t.clone()),
        }
    }
    Ok((doc.to_string(), ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = r#"# server a
[server]
interfaces = ["eth0"]

# the subscribers
[[subnet]]
id = 10
network = "10.0.0.0/24"
pools = ["10.0.0.10-10.0.0.200"]  # big pool
routers = ["10.0.0.1"]

[[subnet]]
id = 11
network = "10.0.1.0/24"
pools = ["10.0.1.10-10.0.1.200"]
"#;

    const B: &str = r#"# server b: keeps its own comments
[server]
interfaces = ["eth9"]

[[subnet]]
id = 11
network = "10.0.1.0/24"
pools = ["10.0.1.10-10.0.1.100"]

[[subnet]]
id = 99
network = "192.168.0.0/24"
pools = ["192.168.0.10-192.168.0.20"]
"#;

    #[test]
    fn scopes_move_with_their_comments_and_nothing_else_changes() {
        let cut = subnet_tables(A, &[SubnetId(10), SubnetId(11)]).unwrap();
        assert!(
            cut.contains("# big pool") && !cut.contains("[server]"),
            "{cut}"
        );
        let (merged, ids) = splice_subnets(B, &cut).unwrap();
        assert_eq!(ids, vec![10, 11]);
        assert!(
            merged.starts_with("# server b: keeps its own comments"),
            "{merged}"
        );
        assert!(
            merged.contains("eth9") && merged.contains("id = 99"),
            "{merged}"
        );
        assert!(
            merged.contains("10.0.1.10-10.0.1.200"),
            "subnet 11 replaced: {merged}"
        );
        assert!(!merged.contains("10.0.1.10-10.0.1.100"), "{merged}");
        assert!(merged.contains("id = 10"), "subnet 10 added: {merged}");
        // The result parses as a configuration document.
        merged.parse::<DocumentMut>().unwrap();
    }

    #[test]
    fn bad_input_is_named() {
        assert!(
            subnet_tables(A, &[SubnetId(12)])
                .unwrap_err()
                .contains("id = 12")
        );
        assert!(
            splice_subnets(B, "[server]\nx = 1\n")
                .unwrap_err()
                .contains("no [[subnet]]")
        );
        assert!(
            splice_subnets(B, "[[subnet]]\nid = 1\n[server]\nx = 1\n")
                .unwrap_err()
                .contains("only [[subnet]]")
        );
        assert!(
            splice_subnets(B, "not toml = = 1")
                .unwrap_err()
                .contains("not valid TOML")
        );
    }
}
