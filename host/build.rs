//! Exports Lua's C API from the `skybox` binary. A Lua C module (`require "lpeg"` from
//! `lua_cpath`) is a shared object built against Lua's headers and not linked with any Lua
//! library, as skynet's and the standard Lua interpreter's modules are: it finds `lua_*`,
//! `luaL_*` and `luaopen_*` in the process that loads it. The list keeps them exported (and
//! kept by the linker) without exporting the rest of the binary. It also rebuilds the crate
//! when a file is added to the embedded `lua-guest` tree.

fn main() {
    println!("cargo:rerun-if-changed=lua-api.list");
    // The embedded Lua library (`include_dir!` in lua/embed.rs does not see files added to it).
    println!("cargo:rerun-if-changed=../lua-guest");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        println!("cargo:rustc-link-arg-bins=-Wl,--dynamic-list={dir}/lua-api.list");
    }
}
