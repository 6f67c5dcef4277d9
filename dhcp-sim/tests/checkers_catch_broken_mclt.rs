//! The checkers' self-test: with `break-mclt`, dhcp-core grants leases without the MCLT cap, and
//! the MCLT checker must notice within the fixed seeds. Run it on its own, so that the feature
//! reaches no other build:
//!
//! ```sh
//! cargo test -p dhcp-sim --features break-mclt --test checkers_catch_broken_mclt
//! ```
#![cfg(feature = "break-mclt")]

use dhcp_sim::{FIXED_SEEDS, Options, check::Checker, run};

#[test]
fn checkers_catch_broken_mclt() {
    let mut caught = Vec::new();
    for seed in FIXED_SEEDS {
        // Not strict: a violation the known engine bug explains does not count, so only the
        // broken rule itself can make the checker fire.
        let r = run(&Options::new(seed));
        if let Some(f) = &r.failure {
            eprintln!(
                "seed {seed:#x}: `{}` fired: {}",
                f.violation.checker, f.violation.detail
            );
            if f.violation.checker == Checker::Mclt {
                caught.push(seed);
            }
        }
    }
    assert!(
        !caught.is_empty(),
        "with the MCLT cap removed, the MCLT checker stayed silent on every fixed seed"
    );
    eprintln!(
        "the MCLT checker caught the broken rule in {} of {} fixed seeds",
        caught.len(),
        FIXED_SEEDS.len()
    );
}
