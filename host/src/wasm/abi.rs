//! The host side of the guest ABI (`guest-sdk/ABI.md`). The ABI's names, numbers and error type
//! are defined once, in the SDK (`skybox_sdk::abi`); this module only adds what the host does
//! with them: fold an import's result into the `i32` a guest sees, check a type argument.

pub(crate) use skybox_sdk::abi::{
    AbiError, EXPORT_ALLOC, EXPORT_DISPATCH, EXPORT_MEMORY, EXPORT_START, MODULE, NEW_SESSION,
};

/// Folds an import's result into the single `i32` the guest sees.
pub(crate) fn to_code(result: Result<i32, AbiError>) -> i32 {
    result.unwrap_or_else(AbiError::code)
}

/// A message type number from the guest: 0..=255 (skynet's types and user protocols).
pub(crate) fn ptype_arg(ptype: i32) -> Result<u8, AbiError> {
    u8::try_from(ptype).map_err(|_| AbiError::Arg)
}
