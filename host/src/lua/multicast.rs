//! `skynet.multicast.core`: the native half of skynet's `multicast.lua` and `multicastd.lua`
//! (the contract is skynet's `lualib-src/lua-multicast.c`), so that skynet's own multicast
//! library runs on skybox. One published message reaches every subscriber without a copy: the
//! publisher packs it, `multicastd` binds it to the number of subscribers and sends each the
//! package's name, each subscriber unpacks and closes it, and the last close frees it.
//!
//! skynet hands those services raw pointers; here a package lives in a process-wide table and
//! is named by a handle (a light userdata): its slot, a random number drawn for it, and its
//! kind, the *holder* (what `pack` returns, whose 8 bytes `skynet.tostring` gives as the name
//! multicastd sends) or the *package* (what `unpack` and `bind` return, whose bytes
//! `skynet.unpack` and `skynet.tostring` read, which `close` releases). A stale, forged or
//! guessed handle names nothing (32 random bits), and is an error, never a dereference.
//!
//! ```text
//! publisher    mc.pack(skynet.pack(...))        -> holder, 8
//! multicastd   skynet.tostring(holder, 8)       -> the name;  mc.bind(holder, n) -> package
//!              skynet.redirect(sub, src, "multicast", channel, name)   (to each subscriber)
//! subscriber   mc.unpack(msg, 8) -> package, package, size;  skynet.unpack(package, size)
//!              mc.close(package)                (the n-th close frees it)
//! ```

use std::ffi::{c_int, c_void};
use std::sync::{Arc, Mutex, MutexGuard};

use mlua::ffi::{self, lua_State};
use mlua::{LightUserData, Lua, Table};

use super::buffers::{Block, Sealed};
use super::socketdriver::{
    Failure, integer_arg, push_block, set_functions, size_arg, state_mut, token_arg, with_vm,
};

/// A published message and how many subscribers still hold it.
struct Package {
    /// Closes still expected: 0 until `bind`.
    references: i64,
    bound: bool,
    data: Arc<Vec<u8>>,
}

static PACKAGES: Mutex<Sealed<Package>> = Mutex::new(Sealed::new());

fn packages() -> MutexGuard<'static, Sealed<Package>> {
    PACKAGES.lock().unwrap_or_else(|e| e.into_inner())
}

/// A handle is a package's sealed key, with bit 31 set for the package kind (clear for the
/// holder).
const HOLDER: u64 = 0;
const PACKAGE: u64 = 1 << 31;

/// The package a handle of `kind` names, and its key.
fn find(packages: &mut Sealed<Package>, handle: u64, kind: u64) -> Option<(u64, &mut Package)> {
    if handle & PACKAGE != kind {
        return None;
    }
    let key = handle & !PACKAGE;
    packages.get_mut(key).map(|package| (key, package))
}

/// The bytes `skynet.tostring` and `skynet.unpack` read for a light userdata that is not one of
/// the VM's message blocks: a holder's name (8 bytes) or a package's message (`None` if it is
/// neither); the first `size` of them when given.
pub(crate) fn shared_bytes(token: LightUserData, size: Option<usize>) -> Option<Block<'static>> {
    let handle = token.0 as usize as u64;
    let mut packages = packages();
    let bytes = if let Some((_, package)) = find(&mut packages, handle, HOLDER) {
        (!package.bound).then(|| Arc::new(handle.to_le_bytes().to_vec()))?
    } else {
        find(&mut packages, handle, PACKAGE)?.1.data.clone()
    };
    Block::Shared(bytes, usize::MAX).first(size).ok()
}

/// The module, as `require "skynet.multicast.core"` returns it.
pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    // SAFETY: `open` is a C function following Lua's protocol.
    unsafe { lua.create_c_function(open)? }.call(())
}

unsafe extern "C-unwind" fn open(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function; this frame owns nothing.
    unsafe {
        ffi::lua_createtable(state, 0, 7);
        let table = ffi::lua_gettop(state);
        set_functions(
            state,
            table,
            &[
                (c"pack", pack),
                (c"packremote", packremote),
                (c"unpack", unpack),
                (c"bind", bind),
                (c"close", close),
                (c"remote", remote),
                (c"nextid", nextid),
            ],
            0,
        );
        1
    }
}

/// Pushes a handle as a light userdata.
///
/// # Safety
/// `state` is live with a free stack slot.
unsafe fn push_handle(state: *mut lua_State, handle: u64) {
    // SAFETY: per the contract; a light userdata allocates nothing.
    unsafe { ffi::lua_pushlightuserdata(state, std::ptr::without_provenance_mut::<c_void>(handle as usize)) }
}

/// The handle at `arg`.
///
/// # Safety
/// `state` is live.
unsafe fn handle_arg(state: *mut lua_State, arg: c_int, function: &'static str) -> Result<u64, Failure> {
    // SAFETY: per the contract.
    let token = unsafe { token_arg(state, arg, function)? };
    Ok(token.0 as usize as u64)
}

/// The message at 1 (a block and its size, at most 32 bits); `take`: moved out of the VM's
/// blocks (the publisher's), else copied (a message that came from a remote node).
///
/// # Safety
/// `state` is live.
unsafe fn message(state: *mut lua_State, function: &str, take: bool) -> c_int {
    // SAFETY: per the contract.
    unsafe {
        with_vm(state, |ctx| {
            let size = size_arg(state, 2, function)?;
            if u32::try_from(size).is_err() {
                return Err(Failure::Static("Size should be 32bit integer"));
            }
            let token = token_arg(state, 1, "multicast: a message block expected")?;
            let data = {
                let mut st = state_mut(ctx)?;
                if take {
                    st.buffers.take(token, Some(size))?
                } else {
                    st.buffers.get(token, Some(size))?.to_vec()
                }
            };
            let handle = packages().insert(Package { references: 0, bound: false, data: Arc::new(data) });
            push_handle(state, handle);
            ffi::lua_pushinteger(state, 8);
            Ok(2)
        })
    }
}

/// `pack(msg, size)`: the publisher's message becomes a package; its holder and 8.
unsafe extern "C-unwind" fn pack(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function.
    unsafe { message(state, "pack", true) }
}

/// `packremote(msg, size)`: as `pack`, for a message multicastd received (copied).
unsafe extern "C-unwind" fn packremote(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function.
    unsafe { message(state, "packremote", false) }
}

/// `unpack(msg, 8)`: the package a subscriber's message names: the package (to close), the
/// package again (to read its message) and the message's size.
unsafe extern "C-unwind" fn unpack(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function.
    unsafe {
        with_vm(state, |ctx| {
            let size = integer_arg(state, 2, "unpack")?;
            if size != 8 {
                return Err(Failure::Text(format!("Invalid multicast package size {size}")));
            }
            let token = token_arg(state, 1, "multicast: a message block expected")?;
            let name = {
                let st = state_mut(ctx)?;
                let bytes = st.buffers.get(token, Some(8))?;
                u64::from_le_bytes((*bytes).try_into().expect("8 bytes"))
            };
            let mut packages = packages();
            let (key, package) = find(&mut packages, name, HOLDER)
                .ok_or(Failure::Static("Invalid multicast package (unknown or freed)"))?;
            let (handle, len) = (key | PACKAGE, package.data.len());
            drop(packages);
            push_handle(state, handle);
            push_handle(state, handle);
            ffi::lua_pushinteger(state, len as ffi::lua_Integer);
            Ok(3)
        })
    }
}

/// `bind(holder, references)`: how many closes free the package; returns the package.
unsafe extern "C-unwind" fn bind(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function.
    unsafe {
        with_vm(state, |_| {
            let holder = handle_arg(state, 1, "multicast: a package expected")?;
            let references = integer_arg(state, 2, "bind")?;
            if !(0..=i64::from(i32::MAX)).contains(&references) {
                return Err(Failure::Text(format!("Invalid multicast package reference {references}")));
            }
            let mut packages = packages();
            let (key, package) = find(&mut packages, holder, HOLDER)
                .ok_or(Failure::Static("Invalid multicast package (unknown or freed)"))?;
            if package.bound || package.references != 0 {
                return Err(Failure::Static("Can't bind a multicast package more than once"));
            }
            package.references = references;
            package.bound = true;
            let handle = key | PACKAGE;
            drop(packages);
            push_handle(state, handle);
            Ok(1)
        })
    }
}

/// `close(package)`: one holder fewer; the last frees the message.
unsafe extern "C-unwind" fn close(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function.
    unsafe {
        with_vm(state, |_| {
            let handle = handle_arg(state, 1, "multicast: a package expected")?;
            let mut packages = packages();
            let (key, package) = find(&mut packages, handle, PACKAGE)
                .ok_or(Failure::Static("Invalid multicast package (unknown or freed)"))?;
            package.references -= 1;
            let left = package.references;
            if left <= 0 {
                // Dropped outside the lock: the last reader may still hold the bytes.
                let freed = packages.remove(key);
                drop(packages);
                drop(freed);
                if left < 0 {
                    return Err(Failure::Text(format!("Invalid multicast package reference {left}")));
                }
            }
            Ok(0)
        })
    }
}

/// `remote(holder)`: the message out of its package (for a remote node), as a block and its
/// size; the package is gone.
unsafe extern "C-unwind" fn remote(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function.
    unsafe {
        with_vm(state, |ctx| {
            let holder = handle_arg(state, 1, "multicast: a package expected")?;
            let package = {
                let mut packages = packages();
                let (key, _) = find(&mut packages, holder, HOLDER)
                    .ok_or(Failure::Static("Invalid multicast package (unknown or freed)"))?;
                packages.remove(key).expect("found")
            };
            let data = Arc::try_unwrap(package.data).unwrap_or_else(|shared| (*shared).clone());
            push_block(state, ctx, data)?;
            Ok(2)
        })
    }
}

/// `nextid(id)`: the next channel id (channels step by 256, the high bit kept clear).
unsafe extern "C-unwind" fn nextid(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function.
    unsafe {
        with_vm(state, |_| {
            let id = integer_arg(state, 1, "nextid")? as u32;
            ffi::lua_pushinteger(state, ffi::lua_Integer::from(id.wrapping_add(256) & 0x7fff_ffff));
            Ok(1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_name_one_package_of_one_kind() {
        let holder =
            packages().insert(Package { references: 0, bound: false, data: Arc::new(vec![1, 2, 3]) });
        let as_token = |h: u64| LightUserData(std::ptr::without_provenance_mut(h as usize));
        assert_eq!(*shared_bytes(as_token(holder), Some(8)).unwrap(), holder.to_le_bytes());
        let mut p = packages();
        let (key, package) = find(&mut p, holder, HOLDER).unwrap();
        let package_handle = key | PACKAGE;
        package.bound = true;
        drop(p);
        assert_eq!(*shared_bytes(as_token(package_handle), None).unwrap(), [1, 2, 3]);
        assert_eq!(*shared_bytes(as_token(package_handle), Some(2)).unwrap(), [1, 2]);
        assert!(shared_bytes(as_token(package_handle), Some(4)).is_none());
        // A bound holder, another nonce, another kind: nothing.
        assert!(shared_bytes(as_token(holder), Some(8)).is_none());
        assert!(shared_bytes(as_token(package_handle ^ (1 << 40)), None).is_none());
        assert!(find(&mut packages(), package_handle, HOLDER).is_none());
    }
}
