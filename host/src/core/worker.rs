//! The worker loop: take a service (the run-next slot first, then the global queue, else wait),
//! run a batch of its messages, requeue it if work is left.
//!
//! The worker applies the core's part of the request rule (see `requests`): it records each
//! request before the runtime sees it, and answers it with ERROR when the runtime could not run
//! a handler for it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::mailbox::Popped;
use super::message::Message;
use super::monitor::WorkerSlot;
use super::node::Node;
use super::scheduler::{self, Runnable, TenantTurn};
use super::service::{Actor, Handled, Service};
use super::tenant::Tenant;

/// Worker `index`'s thread, until the node stops.
pub(super) fn run(node: &Arc<Node>, index: usize) {
    let run_next = &node.run_next[index];
    scheduler::enter_worker(run_next);
    let weight = scheduler::worker_weight(index);
    let slot = &node.workers[index];
    let mut streak = 0;
    while !node.is_stopping() {
        let next = match run_next.take() {
            Some(service) if streak < scheduler::RUN_NEXT_STREAK || node.global.is_empty() => {
                streak += 1;
                Some(Runnable::Service(service))
            }
            Some(service) => {
                // Others have waited long enough: to the back of the queue.
                node.global.push(service);
                streak = 0;
                node.global.pop()
            }
            None => {
                streak = 0;
                node.global.pop()
            }
        };
        let next = next.or_else(|| node.global.idle(|| node.is_stopping(), || steal(node, index)));
        match next {
            Some(Runnable::Service(service)) => {
                if let Some(service) = run_batch(node, service, weight, slot) {
                    node.global.push_runnable(Runnable::Service(service));
                }
            }
            Some(Runnable::Tenant(tenant)) => run_tenant(node, tenant, weight, slot),
            None => {}
        }
    }
}

/// Runs a batch of the next service of `tenant` (see `tenant` for the run queue's rules), then
/// the services of the tenant its messages woke, one after another on this worker, up to
/// [`scheduler::RUN_NEXT_STREAK`] batches.
fn run_tenant(node: &Node, tenant: &'static Tenant, weight: i8, worker: &WorkerSlot) {
    let (service, again) = tenant.take();
    if again {
        node.global.push_runnable(Runnable::Tenant(tenant));
    }
    let Some(mut service) = service else { return };
    let turn = TenantTurn::begin(tenant);
    let mut streak = 0;
    let left = loop {
        let left = run_batch(node, service, weight, worker);
        match turn.take_next() {
            // As with the run-next slot: a streak ends when others wait.
            Some(next)
                if (streak < scheduler::RUN_NEXT_STREAK || node.global.is_empty()) && !node.is_stopping() =>
            {
                streak += 1;
                // Back to the tenant's queue; this worker stays the tenant's.
                if let Some(left) = left {
                    node.global.push(left);
                }
                service = next;
            }
            next => {
                if let Some(next) = next {
                    node.global.push(next);
                }
                break left;
            }
        }
    };
    drop(turn);
    if tenant.done(left) {
        node.global.push_runnable(Runnable::Tenant(tenant));
    }
}

/// Another worker's run-next service, for a worker about to sleep.
fn steal(node: &Node, thief: usize) -> Option<Arc<Service>> {
    node.run_next.iter().enumerate().filter(|&(i, _)| i != thief).find_map(|(_, slot)| slot.take())
}

/// Hands one message to a service's runtime (a worker's, or a replay's): the request it
/// carries is held (see `requests`) and answered with ERROR if the runtime failed it; a
/// recorded service's tape notes the message first.
pub(crate) fn handle_one(node: &Node, service: &Service, actor: &mut dyn Actor, msg: Message) {
    if let Some(tape) = service.tape() {
        tape.message(&msg);
    }
    let request = actor.held().received(&msg);
    let handled = actor.dispatch(msg);
    if handled == Handled::Failed
        && let Some((source, session)) = request
        && actor.held().take(source, session)
    {
        node.send_error(service.handle(), source, session);
    }
}

/// [`handle_one`] on worker slot 0, where the monitor sees it: a replay's loop.
pub(crate) fn handle_alone(node: &Node, service: &Service, actor: &mut dyn Actor, msg: Message) {
    let slot = &node.workers[0];
    slot.begin(msg.source, service.handle(), node.clock.hpc());
    handle_one(node, service, actor, msg);
    slot.end();
}

/// Runs a batch of `service`'s messages; returns it if it still has work (to be requeued).
fn run_batch(node: &Node, service: Arc<Service>, weight: i8, worker: &WorkerSlot) -> Option<Arc<Service>> {
    if service.is_closed() {
        node.reap(&service);
        return None;
    }
    let mut slot = service.actor.lock();
    let actor = slot.as_mut()?;
    let me = service.handle();
    let counters = &service.counters;
    let mut budget = 0;
    let mut first = true;
    // Messages left after the last one popped; `None` once the mailbox was found empty (it is
    // unscheduled then, and the next push schedules it again).
    let mut left: Option<usize>;
    loop {
        let Some(Popped { msg, remaining, overload }) = service.mailbox.pop() else {
            left = None;
            break;
        };
        if first {
            budget = scheduler::batch_size(weight, remaining + 1);
            first = false;
        }
        left = Some(remaining);
        if let Some(len) = overload {
            node.log(me, format!("May overload, message queue length = {len}"));
        }
        counters.messages_in.fetch_add(1, Ordering::Relaxed);
        service.log_message(&msg, &node.clock);
        let started = node.clock.hpc();
        counters.running_since.store(started, Ordering::Relaxed);
        worker.begin(msg.source, me, started);
        handle_one(node, &service, actor.as_mut(), msg);
        worker.end();
        counters.running_since.store(0, Ordering::Relaxed);
        counters.busy_ns.fetch_add(node.clock.hpc().saturating_sub(started), Ordering::Relaxed);
        budget -= 1;
        if budget == 0 || service.is_closed() || node.is_stopping() {
            break;
        }
    }
    counters.memory.store(actor.memory() as u64, Ordering::Relaxed);
    drop(slot);
    if service.is_closed() {
        node.reap(&service);
        None
    } else if let Some(left) = left
        && (left > 0 || !service.mailbox.unschedule_if_empty())
    {
        Some(service)
    } else {
        None
    }
}
