//! The idempotent-delivery example (`services/mailbox`, seed 002) under faults, on both stores
//! (SQLite through the blocking pool; a real redis-server, Debian's, installed by the test
//! command): the `mailbox` guest killed and launched again every few ticks while couriers
//! deliver, answers lost and retried, duplicates sent on purpose, deliveries for one player
//! racing; then the same run again on the same store, and a process killed with SIGKILL mid-run
//! and restarted on it. Each run ends with the example's own ledger check (every ticket archived
//! and applied exactly once, no gap, no coin lost or made).

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use support::{Redis, Spawned, TempDir, have_guests, program, repo_root, run_skybox_with};

const RUN: Duration = Duration::from_secs(240);

/// The SQLite store in `dir`.
fn sqlite(dir: &TempDir) -> String {
    format!("mq_store=sqlite:{}/mailbox.db", dir.path().display())
}

/// `skybox run services/mailbox/config` on `store` (`mq_store=...`), with `sets` over the config.
fn args(store: &str, sets: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["run", "services/mailbox/config", "--set", store].map(String::from).to_vec();
    for set in sets {
        args.extend(["--set".to_string(), set.to_string()]);
    }
    args
}

fn run(store: &str, sets: &[&str]) -> support::Run {
    let args = args(store, sets);
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
    // Killed every 30 ms, and every 40th answer lost on the way (the courier times out, retries).
    let sets = ["mq_chaos=3", "mq_lose=40", "mq_deliveries=120", "mq_couriers=4", "mq_players=6"];
    let store = sqlite(&dir);
    let first = run(&store, &sets);
    let line = ledger_ok(&first);
    assert!(line.contains("480 tickets"), "{line}");
    let kills: u32 = line.rsplit(", ").next().unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(kills > 0, "the mailbox was never killed: {line}");
    // Again on the same store: every ticket is a retry now; nothing new is archived or applied.
    let again = run(&store, &sets);
    assert!(ledger_ok(&again).contains("480 tickets"));
}

#[test]
fn a_process_killed_mid_run_restarts_on_the_same_store() {
    if !have_guests("a_process_killed_mid_run_restarts_on_the_same_store", &["mailbox"]) {
        return;
    }
    let dir = TempDir::new("mailbox-sigkill");
    killed_and_restarted(&sqlite(&dir));
}

/// Runs 4 × 400 deliveries on `store`, kills the process with SIGKILL after a quarter, runs it
/// again on the same store: the ledger balances.
fn killed_and_restarted(store: &str) {
    let sets = ["mq_chaos=0", "mq_deliveries=400", "mq_couriers=4", "mq_players=8"];
    let args = args(store, &sets);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut node = Spawned::start(&args, &repo_root());
    node.wait_line("courier 1: 100 delivered", RUN);
    // SIGKILL: no flush, no goodbye; what answered is in the store, what did not is retried.
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    let restarted = run(store, &sets);
    assert!(ledger_ok(&restarted).contains("1600 tickets"));
}

#[test]
fn the_redis_store_keeps_the_ledger_under_kills_and_a_sigkill() {
    if !have_guests("the_redis_store_keeps_the_ledger_under_kills_and_a_sigkill", &["mailbox"]) {
        return;
    }
    let Some(bin) = program("redis-server") else {
        println!("skipped: redis-server is not installed (the test command installs Debian's)");
        return;
    };
    let dir = TempDir::new("mailbox-redis");
    let redis = Redis::start(&bin, &dir, true);
    let store = format!("mq_store=redis:127.0.0.1:{}", redis.1);
    let sets = ["mq_chaos=3", "mq_deliveries=60", "mq_couriers=4", "mq_players=6"];
    let line = ledger_ok(&run(&store, &sets));
    assert!(line.contains("240 tickets"), "{line}");
    assert!(ledger_ok(&run(&store, &sets)).contains("240 tickets"), "a second run delivers nothing twice");
    // A fresh server for the SIGKILL run (its tickets are other couriers' numbers).
    let dir = TempDir::new("mailbox-redis-kill");
    let redis = Redis::start(&bin, &dir, true);
    killed_and_restarted(&format!("mq_store=redis:127.0.0.1:{}", redis.1));
}
