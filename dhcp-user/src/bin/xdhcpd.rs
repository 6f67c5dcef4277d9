//! xdhcpd: the DHCPv4 server daemon.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use dhcp_user::{server::Server, signals};

#[derive(Parser)]
#[command(version, about = "xdhcp DHCPv4 server")]
struct Args {
    /// Configuration file (TOML).
    #[arg(long, short, default_value = "/etc/xdhcp/xdhcpd.toml")]
    config: PathBuf,
    /// Validate the configuration, print every error, and exit.
    #[arg(long)]
    check: bool,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    log_json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("XDHCP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if args.log_json {
        builder.json().init();
    } else {
        builder.init();
    }

    let cfg = match dhcp_core::config::load(&args.config) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!(
                "{}: {} error(s); nothing started",
                args.config.display(),
                errors.len()
            );
            return ExitCode::from(2);
        }
    };
    if args.check {
        println!(
            "{}: OK ({} subnet(s), {} interface(s))",
            args.config.display(),
            cfg.subnets.len(),
            cfg.server.interfaces.len()
        );
        return ExitCode::SUCCESS;
    }
    match run(&args, cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("xdhcpd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// SIGHUP: read, validate and apply the configuration file; on any error the running
/// configuration stays and every reason is logged.
fn reload(ops: &dhcp_user::ops::Ops) {
    let path = ops.config_path().unwrap_or_default();
    match ops.reload_file() {
        Ok(r) => dhcp_user::api::log_reload(&r, ops),
        Err(e) => {
            tracing::error!(config = %path.display(), "reload refused, the running configuration stays: {e}");
        }
    }
}

fn run(args: &Args, cfg: dhcp_core::config::Config) -> anyhow::Result<()> {
    signals::install_handlers()?;
    let server = Server::start(cfg)?;
    tracing::info!(
        config = %args.config.display(),
        restored = server.restored,
        recovery_ms = server.recovery.as_millis() as u64,
        "xdhcpd serving"
    );
    let ops = server.ops();
    ops.set_config_path(args.config.clone());
    // The control API and the metrics endpoint: a listener that cannot be bound is logged and
    // left out; DHCP is served regardless.
    let api = dhcp_user::api::start(ops.clone());
    for l in &api.listening {
        tracing::info!(listen = %l, "control API listening");
    }
    while !signals::stop_requested() {
        std::thread::sleep(Duration::from_millis(100));
        if signals::take_reload_request() {
            reload(&ops);
        }
    }
    tracing::info!("stopping: finishing held replies, flushing the lease journal");
    let totals = server.shutdown();
    // After the server: a `shutdown` call's answer has long been written by now.
    api.stop();
    let totals = totals?;
    let e = &totals.engine;
    let malformed: Vec<String> = dhcp_wire::dhcp::DhcpError::ALL
        .iter()
        .zip(totals.worker.malformed)
        .filter(|(_, n)| *n > 0)
        .map(|(r, n)| format!("{}:{n}", r.as_str()))
        .collect();
    let malformed = if malformed.is_empty() {
        "0".to_owned()
    } else {
        malformed.join(",")
    };
    tracing::info!(
        received = e.pkt4_received,
        offers = e.pkt4_offer_sent,
        acks = e.pkt4_ack_sent,
        naks = e.pkt4_nak_sent,
        declined = e.declined_addresses,
        released = e.pkt4_release_received,
        bindings = totals.bindings,
        bad_frames = totals.io.rx_malformed,
        malformed = %malformed,
        tx_dropped = totals.io.tx_dropped,
        inbox_full = totals.worker.inbox_full,
        pending_full = totals.worker.pending_full,
        outbox_full = totals.worker.outbox_full,
        journal_full = totals.worker.journal_full,
        emit_failed = totals.worker.emit_failed,
        "xdhcpd stopped"
    );
    Ok(())
}
