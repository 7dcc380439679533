//! skybox's own Lua library and built-in services (`lua-guest/`), compiled into the binary, and
//! the library's code shared by every Lua VM of the process ([`shared_code`]).
//!
//! Paths from the config are searched first; these copies are the fallback, so a bare
//! `skybox run` needs no files besides the user's own services.

use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::sync::{Arc, Mutex, OnceLock};

use include_dir::{Dir, include_dir};
use mlua::{Function, Lua, ffi};

static LUA_GUEST: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../lua-guest");

/// An embedded Lua source and the chunk name to load it under.
#[derive(Clone, Copy)]
pub(crate) struct Source {
    pub(crate) code: &'static str,
    pub(crate) chunkname: &'static str,
}

/// The embedded tree indexed once per process: library modules by module name (`a.b` from
/// `lualib/a/b.lua` or `lualib/a/b/init.lua`) and built-in services by name. A `require` of a
/// library module is one hash lookup, not a walk of the directory tree per VM.
struct Index {
    modules: HashMap<String, Source>,
    services: HashMap<String, Source>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut files = Vec::new();
        collect_files(&LUA_GUEST, &mut files);
        let mut index = Index { modules: HashMap::new(), services: HashMap::new() };
        for (path, code) in files {
            let Some(stem) = path.strip_suffix(".lua") else { continue };
            let source = Source { code, chunkname: String::leak(format!("@lua-guest/{path}")) };
            if let Some(module) = stem.strip_prefix("lualib/") {
                // `a/b/init.lua` is module `a.b` unless `a/b.lua` exists (Lua's search order).
                let (name, is_init) = match module.strip_suffix("/init") {
                    Some(dir) => (dir.replace('/', "."), true),
                    None => (module.replace('/', "."), false),
                };
                if !is_init || !index.modules.contains_key(&name) {
                    index.modules.insert(name, source);
                }
            } else if let Some(service) = stem.strip_prefix("service/")
                && !service.contains('/')
            {
                index.services.insert(service.to_string(), source);
            }
        }
        index
    })
}

/// Every UTF-8 file of the embedded tree, with its path.
fn collect_files(dir: &'static Dir<'static>, out: &mut Vec<(&'static str, &'static str)>) {
    for file in dir.files() {
        if let (Some(code), Some(path)) = (file.contents_utf8(), file.path().to_str()) {
            out.push((path, code));
        }
    }
    for sub in dir.dirs() {
        collect_files(sub, out);
    }
}

/// Library module `a.b`.
pub(crate) fn module(name: &str) -> Option<Source> {
    index().modules.get(name).copied()
}

/// A chunk of host code (glue the host runs in every VM), shared like the library.
pub(crate) struct HostChunk {
    pub(crate) code: &'static str,
    pub(crate) chunkname: &'static str,
}

impl HostChunk {
    pub(crate) fn source(&'static self) -> Source {
        Source { code: self.code, chunkname: self.chunkname }
    }
}

/// Every host chunk, so the shared code state holds them too. Host chunks are `static` items:
/// the shared prototypes are found by the address of their code.
fn host_chunks() -> [&'static HostChunk; 3] {
    [&super::core_api::WRAP_RAISING, &super::interrupt::COROUTINE_WRAP, &super::PROFILE_RESUME]
}

/// Whether a file on the search path `path` provides module `name` (and so takes precedence
/// over the embedded copy). `probe` looks on disk; its answer is kept for the process, so a
/// library module costs no file-system lookups after the first VM that requires it. A probe
/// that fails (`None`) is not remembered.
pub(crate) fn overridden_on_path(
    path: &[u8],
    name: &str,
    probe: impl FnOnce() -> Option<bool>,
) -> Option<bool> {
    // Path -> module -> found; looked up without allocating once the answer is known.
    type Answers = HashMap<Vec<u8>, HashMap<String, bool>>;
    static SEEN: OnceLock<Mutex<Answers>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    let known = |seen: &Answers| seen.get(path).and_then(|modules| modules.get(name)).copied();
    if let Some(found) = known(&seen.lock().unwrap_or_else(|e| e.into_inner())) {
        return Some(found);
    }
    let found = probe()?;
    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    seen.entry(path.to_vec()).or_default().insert(name.to_string(), found);
    Some(found)
}

/// Built-in service `name` from `service/name.lua`.
pub(crate) fn service(name: &str) -> Option<Source> {
    index().services.get(name).copied()
}

/// Bytecode of embedded sources and host chunks, compiled once per process (keyed by the
/// address of the static source): every Lua service loads skynet.lua and its companions, and
/// parsing them per VM would dominate the cost of a spawn.
fn bytecode_cache() -> &'static Mutex<HashMap<usize, Arc<[u8]>>> {
    static CACHE: OnceLock<Mutex<HashMap<usize, Arc<[u8]>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

impl Source {
    /// The source compiled to bytecode (with debug information, for tracebacks).
    pub(crate) fn bytecode(&self, lua: &Lua) -> mlua::Result<Arc<[u8]>> {
        let key = self.code.as_ptr() as usize;
        if let Some(bytes) = bytecode_cache().lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(bytes.clone());
        }
        let function = lua.load(self.code).set_name(self.chunkname).into_function()?;
        let bytes: Arc<[u8]> = function.dump(false).into();
        bytecode_cache().lock().unwrap_or_else(|e| e.into_inner()).insert(key, bytes.clone());
        Ok(bytes)
    }

    /// The source as a function: a closure of the shared prototype when `lua` shares the code
    /// state, else loaded from the cached bytecode.
    pub(crate) fn load(&self, lua: &Lua) -> mlua::Result<Function> {
        if let Some(proto) = shared_code().proto(self.code) {
            // SAFETY: `proto` is a prototype of the frozen code state, which lives for the
            // process; the push runs protected and leaves one value (or none when `lua` was
            // created before the code state was frozen).
            let function = unsafe {
                lua.exec_raw::<Option<Function>>((), |state| {
                    if lua_pushsharedclosure(state, proto.0) == 0 {
                        ffi::lua_pushnil(state);
                    }
                })?
            };
            if let Some(function) = function {
                return Ok(function);
            }
        }
        let bytes = self.bytecode(lua)?;
        lua.load(&bytes[..]).set_name(self.chunkname).into_function()
    }

    /// Pushes the source as a function on `state`'s stack, as [`Source::load`] but on Lua's C
    /// API: a closure of the shared prototype, else the source compiled here. Returns the
    /// `lua_load` status; on failure the error message is pushed instead.
    ///
    /// # Safety
    /// `state` is a live Lua state of the calling thread with room for one value. It may raise
    /// a memory error, so the caller owns nothing with a destructor.
    pub(crate) unsafe fn push(&self, state: *mut ffi::lua_State) -> c_int {
        // SAFETY: per the contract; shared prototypes live for the process.
        unsafe {
            if let Some(proto) = shared_code().proto(self.code)
                && lua_pushsharedclosure(state, proto.0) != 0
            {
                return ffi::LUA_OK;
            }
            // A VM made before the code state was frozen: compile the text here.
            ffi::lua_pushlstring(state, self.chunkname.as_ptr().cast(), self.chunkname.len());
            let name = ffi::lua_tolstring(state, -1, std::ptr::null_mut());
            let status =
                ffi::luaL_loadbufferx(state, self.code.as_ptr().cast(), self.code.len(), name, c"t".as_ptr());
            ffi::lua_remove(state, -2);
            status
        }
    }
}

unsafe extern "C-unwind" {
    // Lua's code sharing (vendor/lua-src/SKYBOX.md).
    fn lua_sharestate(state: *mut ffi::lua_State) -> c_int;
    fn lua_sharedproto(state: *mut ffi::lua_State, idx: c_int) -> *const c_void;
    fn lua_pushsharedclosure(state: *mut ffi::lua_State, proto: *const c_void) -> c_int;
    fn lua_sethashseed(seed: std::ffi::c_uint);
}

/// The Lua this host was built with (the crate's feature `lua54` or `lua55`), as a record names it.
pub(crate) const LUA_RELEASE: &str = if cfg!(feature = "lua55") { "Lua 5.5" } else { "Lua 5.4" };

/// The string-hash seed of every Lua VM of the process (the shared code state's, which every
/// VM takes): random per process, as Lua's own, unless a replay set the recorded one first.
static HASH_SEED: OnceLock<u32> = OnceLock::new();

/// See [`HASH_SEED`].
pub(crate) fn hash_seed() -> u32 {
    *HASH_SEED.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new().build_hasher().finish() as u32
    })
}

/// Makes `seed` the process's string-hash seed; before any Lua VM exists (a replay's first
/// step). False if it was too late.
pub(crate) fn replay_hash_seed(seed: u32) -> bool {
    HASH_SEED.set(seed).is_ok()
}

/// SHA-256 of the embedded Lua library, every file in path order (a record's code identity).
pub(crate) fn library_hash() -> [u8; 32] {
    use sha2::{Digest, Sha256};
    static HASH: OnceLock<[u8; 32]> = OnceLock::new();
    *HASH.get_or_init(|| {
        let mut files = Vec::new();
        collect_files(&LUA_GUEST, &mut files);
        files.sort();
        let mut hasher = Sha256::new();
        for (path, code) in files {
            hasher.update(path.as_bytes());
            hasher.update([0]);
            hasher.update(code.as_bytes());
            hasher.update([0]);
        }
        hasher.finalize().into()
    })
}

/// A prototype of the frozen code state.
#[derive(Clone, Copy)]
struct Proto(*const c_void);

// SAFETY: prototypes of the frozen code state are immutable and live for the process.
unsafe impl Send for Proto {}
// SAFETY: a shared `Proto` only hands out the pointer, and what uses it (`lua_pushsharedclosure`)
// only reads the prototype; the frozen state's objects are never written again (lshare.c).
unsafe impl Sync for Proto {}

/// The embedded library (and host chunks) compiled once into a frozen Lua state whose
/// prototypes and strings every Lua service VM shares, as skynet's patched Lua shares code
/// between services: a VM then holds closures and its own data only.
pub(crate) struct SharedCode {
    /// Prototype of each main chunk, by the address of its static source.
    protos: HashMap<usize, Proto>,
}

impl SharedCode {
    fn proto(&self, code: &'static str) -> Option<Proto> {
        self.protos.get(&(code.as_ptr() as usize)).copied()
    }

    fn build() -> SharedCode {
        let mut sources: Vec<Source> = host_chunks().iter().map(|c| c.source()).collect();
        sources.extend(index().modules.values().copied());
        let mut protos = HashMap::new();
        // SAFETY: a state private to this function until it is frozen; after `lua_sharestate`
        // nothing runs in it again and it is never closed.
        unsafe {
            // Every VM takes the shared state's seed.
            lua_sethashseed(hash_seed());
            let state = ffi::luaL_newstate();
            if state.is_null() {
                return SharedCode { protos };
            }
            ffi::luaL_openlibs(state);
            for src in &sources {
                let Ok(name) = std::ffi::CString::new(src.chunkname) else { continue };
                let status = ffi::luaL_loadbufferx(
                    state,
                    src.code.as_ptr().cast(),
                    src.code.len(),
                    name.as_ptr(),
                    c"t".as_ptr(),
                );
                if status == ffi::LUA_OK {
                    let proto = lua_sharedproto(state, ffi::lua_gettop(state));
                    // Anchored for good: the registry keeps the closure, and so its prototype.
                    ffi::luaL_ref(state, ffi::LUA_REGISTRYINDEX);
                    protos.insert(src.code.as_ptr() as usize, Proto(proto));
                } else {
                    ffi::lua_pop(state, 1);
                }
            }
            if lua_sharestate(state) == 0 {
                // Another code state was frozen first (cannot happen through `shared_code`).
                protos.clear();
            }
        }
        SharedCode { protos }
    }
}

/// The process's shared code. Lua VMs created before the first call do not share it (they
/// load bytecode instead), so the host calls this before it creates a service VM.
pub(crate) fn shared_code() -> &'static SharedCode {
    static SHARED: OnceLock<SharedCode> = OnceLock::new();
    SHARED.get_or_init(SharedCode::build)
}

/// The default service loader (used when the config names no `lualoader`).
pub(crate) fn loader() -> Option<Source> {
    module("loader")
}
