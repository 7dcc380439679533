//! The names and numbers of the guest ABI (`guest-sdk/ABI.md`): the import module, the exports
//! the host calls, and the error codes imports return.
//!
//! Everything here is fixed by ABI.md; changing a value breaks every built guest.

/// The module every import comes from.
pub const MODULE: &str = "skybox";

/// The guest's linear memory.
pub const EXPORT_MEMORY: &str = "memory";
/// `(size: i32) -> i32`: a block of `size` bytes for the host to fill, 0 on failure.
pub const EXPORT_ALLOC: &str = "skybox_alloc";
/// `(args_ptr: i32, args_len: i32)`: the service's first message.
pub const EXPORT_START: &str = "skybox_start";
/// `(ptype, session, source, ptr, size, msg: i32)`: one message.
pub const EXPORT_DISPATCH: &str = "skybox_dispatch";

/// A pointer/size outside linear memory, bad UTF-8, a bad type number, a malformed argument.
pub const ERR_ARG: i32 = -1;
/// No service at that address or name.
pub const ERR_DEST: i32 = -2;
/// Not a live held-message handle of this guest.
pub const ERR_HANDLE: i32 = -3;
/// The command has no result (skynet's NULL).
pub const ERR_NONE: i32 = -4;
/// The command failed (the host logs why).
pub const ERR_COMMAND: i32 = -5;

/// `session` argument of `send`/`redirect`/`forward`/`send_name`: allocate a new session.
pub const SESSION_NEW: i32 = -1;

/// An import's failure; each maps to exactly one negative code of ABI.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbiError {
    Arg,
    Dest,
    Handle,
    None,
    Command,
}

impl AbiError {
    pub fn code(self) -> i32 {
        match self {
            AbiError::Arg => ERR_ARG,
            AbiError::Dest => ERR_DEST,
            AbiError::Handle => ERR_HANDLE,
            AbiError::None => ERR_NONE,
            AbiError::Command => ERR_COMMAND,
        }
    }
}

/// Folds an import's result into the single `i32` the guest sees.
pub fn to_code(result: Result<i32, AbiError>) -> i32 {
    result.unwrap_or_else(AbiError::code)
}

/// A message type number from the guest: 0..=255 (skynet's types and user protocols).
pub fn ptype_arg(ptype: i32) -> Result<u8, AbiError> {
    u8::try_from(ptype).map_err(|_| AbiError::Arg)
}
