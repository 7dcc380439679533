//! The guest's exports (`skybox_alloc`, `skybox_start`, `skybox_dispatch`), defined in the
//! guest crate by [`service!`](crate::service!) and implemented here.
//!
//! This and [`abi`](crate::abi) are the only places with `unsafe`: here, taking ownership of the
//! blocks the host filled.

/// Defines the guest's exports for a [`Service`](crate::Service) type. Invoke it exactly once,
/// in the guest's `cdylib` crate:
///
/// ```ignore
/// skybox_sdk::service!(MyService);
/// ```
///
/// The exports exist only when compiling for `wasm32`; natively the macro only checks the type,
/// and tests drive the service with [`testing::Harness`](crate::testing::Harness).
#[macro_export]
macro_rules! service {
    ($service:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            /// ABI.md `skybox_alloc`: a block of `size` bytes for the host to fill.
            #[unsafe(no_mangle)]
            extern "C" fn skybox_alloc(size: i32) -> i32 {
                $crate::__export::alloc(size)
            }

            /// ABI.md `skybox_start`: the launch arguments, in a block from `skybox_alloc`.
            #[unsafe(no_mangle)]
            extern "C" fn skybox_start(args_ptr: i32, args_len: i32) {
                $crate::__export::start::<$service>(args_ptr, args_len)
            }

            /// ABI.md `skybox_dispatch`: one message.
            #[unsafe(no_mangle)]
            extern "C" fn skybox_dispatch(
                ptype: i32,
                session: i32,
                source: i32,
                ptr: i32,
                size: i32,
                msg: i32,
            ) {
                $crate::__export::dispatch(ptype, session, source, ptr, size, msg)
            }
        };

        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            fn is_a_service<S: $crate::Service>() {}
            let _ = is_a_service::<$service>;
        };
    };
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use std::alloc::Layout;

    use crate::abi::Address;
    use crate::message::{Held, Payload};
    use crate::{Service, runtime};

    /// Allocates a block the host will fill; 0 when memory is exhausted (`memory.grow` failed or
    /// the guest's limit is reached), so the host can fail the delivery instead of trapping us.
    pub fn alloc(size: i32) -> i32 {
        let Ok(size) = usize::try_from(size) else { return 0 };
        if size == 0 {
            // Nothing to allocate; any non-null address will do, it is never freed or read.
            return std::ptr::NonNull::<u8>::dangling().as_ptr().expose_provenance() as i32;
        }
        let Ok(layout) = Layout::array::<u8>(size) else { return 0 };
        // SAFETY: `layout` has a non-zero size.
        let ptr = unsafe { std::alloc::alloc(layout) };
        ptr.expose_provenance() as i32
    }

    /// Takes ownership of a block the host filled.
    fn take_block(ptr: i32, len: i32) -> Vec<u8> {
        let len = usize::try_from(len).unwrap_or(0);
        if ptr == 0 || len == 0 {
            return Vec::new();
        }
        let ptr = std::ptr::with_exposed_provenance_mut::<u8>(ptr as u32 as usize);
        // SAFETY: ABI.md: a non-empty payload (or argument string) is written to a block the
        // host got from `skybox_alloc(len)`, and the block is handed over to the guest. So `ptr`
        // was allocated by the global allocator with `Layout::array::<u8>(len)` (capacity `len`,
        // as `from_raw_parts` requires), its `len` bytes are initialized, and nothing else owns
        // it.
        unsafe { Vec::from_raw_parts(ptr, len, len) }
    }

    /// `skybox_start`: takes the launch arguments' block and starts the service `S`.
    pub fn start<S: Service>(args_ptr: i32, args_len: i32) {
        // A panic is a trap here (panic = "abort"); the hook runs first and leaves the message
        // and its location in the node's log, next to the host's line about the trap.
        std::panic::set_hook(Box::new(|info| {
            let message = info.payload_as_str().unwrap_or("(no message)");
            match info.location() {
                Some(at) => crate::abi::log(&format!("panic at {at}: {message}")),
                None => crate::abi::log(&format!("panic: {message}")),
            }
        }));
        let args = take_block(args_ptr, args_len);
        runtime::start::<S>(String::from_utf8_lossy(&args).into_owned());
    }

    /// `skybox_dispatch`: takes one message (its block, or the held message `msg`) and runs it.
    pub fn dispatch(ptype: i32, session: i32, source: i32, ptr: i32, size: i32, msg: i32) {
        let payload =
            if msg != 0 { Payload::Held(Held::from_raw(msg)) } else { Payload::Bytes(take_block(ptr, size)) };
        // Type numbers are bytes; anything else cannot come from the host (dropping the payload
        // frees it).
        let Ok(ptype) = u8::try_from(ptype) else { return };
        runtime::dispatch(ptype, session, Address(source as u32), payload);
    }
}

#[cfg(target_arch = "wasm32")]
pub use imp::{alloc, dispatch, start};
