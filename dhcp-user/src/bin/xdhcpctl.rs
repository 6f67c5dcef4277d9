//! xdhcpctl: operator command line for xdhcpd.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use dhcp_core::lease::{Binding, BindingState, key::KeyKind};

#[derive(Parser)]
#[command(version, about = "xdhcp operator commands")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Lists the bindings recorded in a lease journal, reading the files without changing them
    /// (works while the daemon runs, and after a crash).
    JournalDump {
        /// The daemon's state directory.
        #[arg(long, default_value = "/var/lib/xdhcp")]
        state_dir: PathBuf,
        /// Only bindings in this state (active, expired, released, abandoned, free, …).
        #[arg(long)]
        state: Option<String>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn client(b: &Binding) -> String {
    let kind = match b.key.kind() {
        KeyKind::ClientId => "id",
        KeyKind::Hardware => "hw",
        KeyKind::None => "-",
    };
    let hex: Vec<String> = b.key.data().iter().map(|x| format!("{x:02x}")).collect();
    format!("{kind}:{}", hex.join(""))
}

fn main() -> ExitCode {
    match Cli::parse().cmd {
        Cmd::JournalDump {
            state_dir,
            state,
            json,
        } => {
            let rec = match dhcp_user::journal::read_only(&state_dir) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("xdhcpctl: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let want = state.map(|s| s.to_ascii_lowercase());
            if !json {
                println!(
                    "{:<15} {:<9} {:<17} {:>6} {:>10} {:>10}  client",
                    "address", "state", "hw-address", "subnet", "lease-end", "cltt"
                );
            }
            let mut n = 0;
            for (_, b) in rec.replay.into_bindings() {
                if want.as_deref().is_some_and(|w| w != b.state.name()) {
                    continue;
                }
                n += 1;
                if json {
                    println!(
                        "{{\"address\":\"{}\",\"state\":\"{}\",\"hw-address\":\"{}\",\"subnet-id\":{},\"lease-end\":{},\"cltt\":{},\"client\":\"{}\"}}",
                        b.addr,
                        b.state.name(),
                        b.hw,
                        b.subnet.0,
                        b.lease_end,
                        b.cltt,
                        client(&b)
                    );
                } else {
                    println!(
                        "{:<15} {:<9} {:<17} {:>6} {:>10} {:>10}  {}",
                        b.addr.to_string(),
                        b.state.name(),
                        b.hw.to_string(),
                        b.subnet.0,
                        b.lease_end,
                        b.cltt,
                        client(&b)
                    );
                }
            }
            if !json {
                let active = BindingState::Active.name();
                eprintln!(
                    "{n} binding(s) listed from {} file(s){}",
                    rec.files,
                    if want.as_deref() == Some(active) {
                        " (active only)"
                    } else {
                        ""
                    }
                );
            }
            ExitCode::SUCCESS
        }
    }
}
