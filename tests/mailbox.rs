//! The idempotent-delivery example (`services/mailbox`, seed 002) under faults, on its embedded
//! store (SQLite through the blocking pool): the `mailbox` guest killed and launched again every
//! few ticks while couriers deliver, answers lost and retried, duplicates sent on purpose,
//! deliveries for one player racing; then the same run again on the same store, and a process
//! killed with SIGKILL mid-run and restarted on it. Each run ends with the example's own ledger
//! check (every ticket archived and applied exactly once, no gap, no coin lost or made).

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use support::{Spawned, TempDir, have_guests, repo_root, run_skybox_with};

const RUN: Duration = Duration::from_secs(240);

/// `skybox run services/mailbox/config` on the store in `dir`, with `sets` over the config.
fn args(dir: &TempDir, sets: &[&str]) -> Vec<String> {
    let store = format!("mq_store=sqlite:{}/mailbox.db", dir.path().display());
    let mut args: Vec<String> =
        ["run", "services/mailbox/config", "--set", &store].map(String::from).to_vec();
    for set in sets {
        args.extend(["--set".to_string(), set.to_string()]);
    }
    args
}

fn run(dir: &TempDir, sets: &[&str]) -> support::Run {
    let args = args(dir, sets);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run_skybox_with(&args, &repo_root(), &[], RUN);
    assert!(!run.timed_out, "the example did not finish\n{}", run.report());
    run
}

fn ledger_ok(run: &support::Run) -> String {
    let line = run
        .lines()
        .find(|l| l.contains("LEDGER"))
        .unwrap_or_else(|| panic!("no ledger line\n{}", run.report()));
    assert!(line.contains("LEDGER OK"), "{line}\n{}", run.report());
    line.to_string()
}

#[test]
fn deliveries_survive_a_mailbox_killed_every_few_ticks_and_a_second_run() {
    if !have_guests("deliveries_survive_a_mailbox_killed_every_few_ticks_and_a_second_run", &["mailbox"]) {
        return;
    }
    let dir = TempDir::new("mailbox-chaos");
    let sets = ["mq_chaos=3", "mq_deliveries=120", "mq_couriers=4", "mq_players=6"];
    let first = run(&dir, &sets);
    let line = ledger_ok(&first);
    assert!(line.contains("480 tickets"), "{line}");
    let kills: u32 = line.rsplit(", ").next().unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(kills > 0, "the mailbox was never killed: {line}");
    // Again on the same store: every ticket is a retry now; nothing new is archived or applied.
    let again = run(&dir, &sets);
    assert!(ledger_ok(&again).contains("480 tickets"));
}

#[test]
fn a_process_killed_mid_run_restarts_on_the_same_store() {
    if !have_guests("a_process_killed_mid_run_restarts_on_the_same_store", &["mailbox"]) {
        return;
    }
    let dir = TempDir::new("mailbox-sigkill");
    let sets = ["mq_chaos=0", "mq_deliveries=400", "mq_couriers=4", "mq_players=8"];
    let args = args(&dir, &sets);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut node = Spawned::start(&args, &repo_root());
    node.wait_line("courier 1: 100 delivered", RUN);
    // SIGKILL: no flush, no goodbye; what answered is in the store, what did not is retried.
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    let restarted = run(&dir, &sets);
    assert!(ledger_ok(&restarted).contains("1600 tickets"));
}
