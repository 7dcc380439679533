//! skynet's own Lua library from a skynet checkout (`skynet.lua`, `socket.lua`,
//! `socketchannel.lua`, `db/redis.lua`) running on skybox's `skynet.core` and
//! `skynet.socketdriver`, against a real `redis-server` (Debian's, installed by the test
//! command).
//!
//! skynet's source is not part of this repository: point `SKYNET_DIR` at a checkout
//! (`SKYNET_DIR=/path/to/skynet cargo xtask test`). Without one, or without `redis-server`, the
//! test says why it did not run.

#[path = "support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::time::Duration;

use support::{Redis, TempDir, run_skybox_with};

const MAIN: &str = r#"
local skynet = require "skynet"
require "skynet.manager"
local redis = require "skynet.db.redis"

skynet.start(function()
	local db = redis.connect { host = "127.0.0.1", port = tonumber(skynet.getenv("redis_port")) }
	db:set("skybox", "hello")
	skynet.error("REDIS get " .. tostring(db:get("skybox")))
	db:del("list")
	for i = 1, 200 do
		db:rpush("list", i)
	end
	local all = db:lrange("list", 0, -1)
	skynet.error("REDIS list " .. #all .. " " .. all[1] .. " " .. all[200])
	-- a value larger than a socket buffer, both ways
	local big = string.rep("0123456789", 200000)
	db:set("big", big)
	skynet.error("REDIS big " .. tostring(db:get("big") == big))
	-- many requests in flight from several coroutines on one channel
	local done = 0
	for c = 1, 10 do
		skynet.fork(function()
			for i = 1, 50 do
				assert(db:incr("counter") > 0)
			end
			done = done + 1
		end)
	end
	while done < 10 do
		skynet.sleep(1)
	end
	skynet.error("REDIS counter " .. db:get("counter"))
	-- an error reply is an error, and the channel goes on
	local ok = pcall(db.lpush, db, "skybox", "x")
	skynet.error("REDIS wrongtype " .. tostring(ok) .. " " .. tostring(db:get("skybox")))
	db:disconnect()
	skynet.abort()
end)
"#;

fn skynet_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("SKYNET_DIR")?);
    dir.join("lualib/skynet/db/redis.lua").is_file().then_some(dir)
}

#[test]
fn skynets_redis_driver_runs_unchanged() {
    let Some(skynet) = skynet_dir() else {
        println!("skipped: SKYNET_DIR does not name a skynet checkout (lualib/skynet/db/redis.lua)");
        return;
    };
    let Some(redis_bin) = support::program("redis-server") else {
        println!("skipped: redis-server is not installed (the test command installs Debian's)");
        return;
    };
    let dir = TempDir::new("redis");
    let redis = Redis::start(&redis_bin, &dir, false);
    dir.write("svc/main.lua", MAIN);
    let lib = skynet.join("lualib");
    dir.write(
        "config",
        &format!(
            "lua_path = \"{lib}/?.lua;{lib}/?/init.lua\"\nluaservice = \"{svc}/?.lua;{sk}/service/?.lua\"\n\
             lualoader = \"{lib}/loader.lua\"\nstart = \"main\"\nthread = 2\nredis_port = {port}\n",
            lib = lib.display(),
            svc = dir.path().join("svc").display(),
            sk = skynet.display(),
            port = redis.1,
        ),
    );
    let run = run_skybox_with(&["run", "config"], dir.path(), &[], Duration::from_secs(60));
    assert!(!run.timed_out && run.code() == Some(0), "{}", run.report());
    for expected in [
        "REDIS get hello",
        "REDIS list 200 1 200",
        "REDIS big true",
        "REDIS counter 500",
        "REDIS wrongtype false hello",
    ] {
        assert!(run.stdout.contains(expected), "missing {expected:?}\n{}", run.report());
    }
}
