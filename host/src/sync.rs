//! The atomics and locks of the host's lock-free parts (the run-next slot and the sleeping
//! workers in `core/scheduler.rs`, the interrupt protocol in `lua/interrupt.rs`): std's and
//! parking_lot's, or [loom]'s with the test-only feature `loom`, so that the model tests next to
//! that code (`mod loom_tests`) run the real code under every interleaving loom explores:
//!
//! ```sh
//! cargo test -p skybox --features loom --lib loom
//! ```
//!
//! Without the feature this module only re-exports, so the real code compiles to what it would
//! with the std types named directly. With it, those parts work inside `loom::model` only (a node
//! cannot run); the feature exists for the model tests and nothing else.
//!
//! Two adaptations, both under the feature only:
//!
//! - loom 0.7 does not model SeqCst accesses: it treats them as AcqRel, so the store-buffering
//!   outcome that SeqCst rules out (each of two threads stores, then loads what the other stored,
//!   and both read the old value) shows up in models of correct code (tokio-rs/loom#180). loom
//!   does model SeqCst fences, so here a SeqCst access is the AcqRel access with a SeqCst fence,
//!   the way compilers implement SeqCst on hardware with weaker accesses. `model` (below) runs
//!   each model twice: with the fence before every SeqCst access ("leading", as on POWER), and
//!   with the fence after every SeqCst store or read-modify-write and none on loads ("trailing",
//!   as on x86: `xchg` stores, plain loads). Both mappings are sound for the C++ memory model, so
//!   correct code passes either; an access weakened from SeqCst loses its fence, so a weakening
//!   shows if one of the two mappings breaks it (not one that only the abstract model, or ARM's
//!   weaker acquire loads, would break). loom's fences are stronger than the hardware's (each
//!   orders everything before it with everything after the next fence of any thread), so the
//!   models must not rely on SeqCst to order plain data: they hand data over by a load that reads
//!   a release store, the way the real code does.
//! - `Condvar::wait_for` waits without a time limit under loom: a lost wake-up then shows as a
//!   deadlock, which loom reports, instead of a wait that the limit ends.
//!
//! [loom]: https://docs.rs/loom

#[cfg(not(feature = "loom"))]
pub(crate) use parking_lot::{Condvar, Mutex};
#[cfg(not(feature = "loom"))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

#[cfg(feature = "loom")]
pub(crate) use model::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Condvar, Mutex, Ordering};

#[cfg(feature = "loom")]
mod model {
    use std::cell::Cell;
    use std::ops::{Deref, DerefMut};
    use std::time::Duration;

    use loom::sync::atomic as imp;
    pub(crate) use std::sync::atomic::Ordering;

    /// Where a SeqCst access gets its SeqCst fence (see the module documentation).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum SeqCst {
        /// Before every SeqCst access.
        Leading,
        /// After every SeqCst store and read-modify-write.
        Trailing,
    }

    thread_local! {
        /// The mapping of the model running on this thread (loom runs a model's threads as
        /// coroutines of the thread that calls it).
        static SEQ_CST: Cell<SeqCst> = const { Cell::new(SeqCst::Leading) };
    }

    /// Runs `model` with SeqCst accesses mapped to fences as `mapping` says.
    #[cfg(test)]
    pub(crate) fn with_seq_cst<R>(mapping: SeqCst, model: impl FnOnce() -> R) -> R {
        let before = SEQ_CST.replace(mapping);
        let result = model();
        SEQ_CST.set(before);
        result
    }

    /// Runs the `access` with ordering `order`, with the SeqCst fence this model's mapping puts
    /// around a SeqCst one; `is_load` for an access that writes nothing.
    #[inline(always)]
    #[track_caller]
    fn access<R>(order: Ordering, is_load: bool, access: impl FnOnce() -> R) -> R {
        if order != Ordering::SeqCst {
            return access();
        }
        let mapping = SEQ_CST.get();
        if mapping == SeqCst::Leading {
            imp::fence(Ordering::SeqCst);
        }
        let result = access();
        if mapping == SeqCst::Trailing && !is_load {
            imp::fence(Ordering::SeqCst);
        }
        result
    }

    /// An atomic with the methods of std's that the modelled code uses.
    macro_rules! atomic {
        ($name:ident, $value:ty $(, $rmw:ident)*) => {
            #[derive(Debug, Default)]
            pub(crate) struct $name(imp::$name);

            // std's API, of which each user needs only some.
            #[allow(dead_code)]
            impl $name {
                #[track_caller]
                pub(crate) fn new(value: $value) -> Self {
                    Self(imp::$name::new(value))
                }

                #[track_caller]
                pub(crate) fn load(&self, order: Ordering) -> $value {
                    access(order, true, || self.0.load(order))
                }

                #[track_caller]
                pub(crate) fn store(&self, value: $value, order: Ordering) {
                    access(order, false, || self.0.store(value, order))
                }

                #[track_caller]
                pub(crate) fn swap(&self, value: $value, order: Ordering) -> $value {
                    access(order, false, || self.0.swap(value, order))
                }

                #[track_caller]
                pub(crate) fn compare_exchange(
                    &self,
                    current: $value,
                    new: $value,
                    success: Ordering,
                    failure: Ordering,
                ) -> Result<$value, $value> {
                    // SeqCst if either is: the fences of a read-modify-write.
                    let order = if failure == Ordering::SeqCst { failure } else { success };
                    access(order, false, || self.0.compare_exchange(current, new, success, failure))
                }

                $(
                    #[track_caller]
                    pub(crate) fn $rmw(&self, value: $value, order: Ordering) -> $value {
                        access(order, false, || self.0.$rmw(value, order))
                    }
                )*
            }
        };
    }

    atomic!(AtomicBool, bool);
    atomic!(AtomicUsize, usize, fetch_add, fetch_sub);
    atomic!(AtomicU64, u64, fetch_add, fetch_sub);

    #[derive(Debug)]
    pub(crate) struct AtomicPtr<T>(imp::AtomicPtr<T>);

    impl<T> Default for AtomicPtr<T> {
        #[track_caller]
        fn default() -> Self {
            Self(imp::AtomicPtr::default())
        }
    }

    // std's API, of which each user needs only some.
    #[allow(dead_code)]
    impl<T> AtomicPtr<T> {
        #[track_caller]
        pub(crate) fn new(value: *mut T) -> Self {
            Self(imp::AtomicPtr::new(value))
        }

        #[track_caller]
        pub(crate) fn load(&self, order: Ordering) -> *mut T {
            access(order, true, || self.0.load(order))
        }

        #[track_caller]
        pub(crate) fn store(&self, value: *mut T, order: Ordering) {
            access(order, false, || self.0.store(value, order))
        }

        #[track_caller]
        pub(crate) fn swap(&self, value: *mut T, order: Ordering) -> *mut T {
            access(order, false, || self.0.swap(value, order))
        }
    }

    /// parking_lot's `Mutex` API (`lock` returns the guard) over loom's.
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    /// Holds loom's guard in an `Option` so that [`Condvar::wait_for`] can take it by `&mut`,
    /// as parking_lot's does; it is `None` only inside `wait_for`.
    pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

    impl<T> Mutex<T> {
        #[track_caller]
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().expect("a model thread panicked holding the lock")))
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;

        fn deref(&self) -> &T {
            self.0.as_ref().expect("guard present outside wait_for")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_mut().expect("guard present outside wait_for")
        }
    }

    /// parking_lot's `Condvar` API over loom's.
    #[derive(Debug, Default)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        #[track_caller]
        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        #[track_caller]
        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }

        /// Waits for a notification; `_limit` is ignored (see the module documentation).
        #[track_caller]
        pub(crate) fn wait_for<T>(&self, guard: &mut MutexGuard<'_, T>, _limit: Duration) {
            let inner = guard.0.take().expect("guard present outside wait_for");
            guard.0 = Some(self.0.wait(inner).expect("a model thread panicked holding the lock"));
        }
    }
}

/// Runs `model` under loom, exploring its interleavings with at most `preemptions` preemptions
/// per execution (`LOOM_MAX_PREEMPTIONS`, when set, overrides it), once with each mapping of
/// SeqCst accesses to fences (see the module documentation). Each model gets the largest bound
/// that keeps the whole loom run within about a minute on two cores: the state space grows
/// steeply with it, and bugs in protocols this small show within two or three preemptions.
#[cfg(all(test, feature = "loom"))]
pub(crate) fn model(preemptions: usize, model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = builder.preemption_bound.or(Some(preemptions));
    let model = std::sync::Arc::new(model);
    for mapping in [model::SeqCst::Leading, model::SeqCst::Trailing] {
        // Printed with the test's output if the model fails.
        eprintln!("loom model, SeqCst accesses with {mapping:?} fences");
        let model = model.clone();
        model::with_seq_cst(mapping, || builder.check(move || model()));
    }
}
