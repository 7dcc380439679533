/*
 * A Lua C module built by tests/cmodules.rs against skybox's Lua headers, as a project's own
 * modules are built: it uses the parts of Lua's C API a real module does (a library table,
 * argument checks, string buffers, userdata with a metatable and __gc, registry references,
 * calls back into Lua, errors).
 */
#include <string.h>

#include "lua.h"
#include "lauxlib.h"

#define COUNTER "skybox_cmod.counter"

/* Userdata collected so far, by every VM of the process (C statics are process-wide). */
static int collected = 0;

static int add(lua_State *L) {
	lua_pushinteger(L, luaL_checkinteger(L, 1) + luaL_checkinteger(L, 2));
	return 1;
}

/* join(sep, ...): the arguments as strings, separated by sep. */
static int join(lua_State *L) {
	size_t seplen;
	const char *sep = luaL_checklstring(L, 1, &seplen);
	int n = lua_gettop(L);
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (int i = 2; i <= n; i++) {
		if (i > 2)
			luaL_addlstring(&b, sep, seplen);
		size_t len;
		const char *s = luaL_tolstring(L, i, &len);
		luaL_addlstring(&b, s, len);
		lua_pop(L, 1);
	}
	luaL_pushresult(&b);
	return 1;
}

/* map(f, t): a new array of f(v) for each v of array t. */
static int map(lua_State *L) {
	luaL_checktype(L, 1, LUA_TFUNCTION);
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_Integer n = luaL_len(L, 2);
	lua_createtable(L, (int)n, 0);
	for (lua_Integer i = 1; i <= n; i++) {
		lua_pushvalue(L, 1);
		lua_geti(L, 2, i);
		lua_call(L, 1, 1);
		lua_seti(L, -2, i);
	}
	return 1;
}

/* remember(v): v through a registry reference and back. */
static int remember(lua_State *L) {
	lua_settop(L, 1);
	int ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
	luaL_unref(L, LUA_REGISTRYINDEX, ref);
	return 1;
}

static int fail(lua_State *L) {
	return luaL_error(L, "cmod failure: %s", luaL_checkstring(L, 1));
}

static int counter_new(lua_State *L) {
	lua_Integer start = luaL_optinteger(L, 1, 0);
	lua_Integer *c = (lua_Integer *)lua_newuserdatauv(L, sizeof(lua_Integer), 0);
	*c = start;
	luaL_setmetatable(L, COUNTER);
	return 1;
}

static int counter_inc(lua_State *L) {
	lua_Integer *c = (lua_Integer *)luaL_checkudata(L, 1, COUNTER);
	*c += luaL_optinteger(L, 2, 1);
	lua_pushinteger(L, *c);
	return 1;
}

static int counter_gc(lua_State *L) {
	(void)L;
	collected++;
	return 0;
}

static int get_collected(lua_State *L) {
	lua_pushinteger(L, collected);
	return 1;
}

static int version(lua_State *L) {
	lua_pushinteger(L, (lua_Integer)lua_version(L));
	return 1;
}

int luaopen_skybox_cmod(lua_State *L) {
	luaL_checkversion(L);
	luaL_Reg counter_methods[] = {
		{ "inc", counter_inc },
		{ NULL, NULL },
	};
	if (luaL_newmetatable(L, COUNTER)) {
		luaL_newlib(L, counter_methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, counter_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_pop(L, 1);
	luaL_Reg lib[] = {
		{ "add", add },
		{ "join", join },
		{ "map", map },
		{ "remember", remember },
		{ "fail", fail },
		{ "counter", counter_new },
		{ "collected", get_collected },
		{ "version", version },
		{ NULL, NULL },
	};
	luaL_newlib(L, lib);
	return 1;
}
