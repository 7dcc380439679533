/*
** lshare.c (skybox)
** Compiled code shared between Lua states of one process.
**
** One state (the "code state") loads a library once and is then frozen
** with lua_sharestate: every object it holds becomes immutable for the
** collector (black, old, SHAREDBIT set), its collector stops for good,
** and it is published as the process's code state (once per process). States
** created afterwards take the shared hash seed and look short strings up
** in the shared table before their own (lstring.c), so a string the
** library uses is one object in every state and compares equal by
** pointer, as Lua requires. lua_pushsharedclosure makes a closure of a
** frozen prototype with the state's own upvalues, instead of loading
** the chunk again.
**
** Why the collector of a sharing state leaves shared objects alone: it
** only visits white objects and only sweeps its own lists; shared objects
** are never white and are on no list of that state. The few places that
** move or tag a new object unconditionally (luaC_fix, luaX_init) check
** SHAREDBIT.
*/

#define lshare_c
#define LUA_CORE

#include "lprefix.h"

#include "lua.h"

#include "lapi.h"
#include "lfunc.h"
#include "lgc.h"
#include "lobject.h"
#include "lstate.h"
#include "lstring.h"


/* the frozen code state (published once, with release/acquire ordering) */
const global_State *luaS_sharedg = NULL;


static void freezelist (GCObject *o) {
  for (; o != NULL; o = o->next) {
    if (o->tt == LUA_VLNGSTR)
      luaS_hashlongstr(gco2ts(o));  /* its hash is written once, now */
    o->marked = bitmask(SHAREDBIT) | bitmask(BLACKBIT) | G_OLD;
  }
}


LUA_API int lua_sharestate (lua_State *L) {
  global_State *g = G(L);
  if (__atomic_load_n(&luaS_sharedg, __ATOMIC_ACQUIRE) != NULL)
    return 0;  /* one code state per process */
  lua_lock(L);
  luaC_fullgc(L, 0);
  /* never collect again: GCSTPGC also makes every lua_gc option invalid
     (a "restart" or "collect" on the code state would collect shared
     objects), and gcstopem stops emergency collections */
  g->gcstp |= GCSTPUSR | GCSTPGC;
  g->gcstopem = 1;
  freezelist(g->allgc);
  freezelist(g->finobj);
  freezelist(g->tobefnz);
  freezelist(g->fixedgc);
  __atomic_store_n(&luaS_sharedg, g, __ATOMIC_RELEASE);
  lua_unlock(L);
  return 1;
}


LUA_API const void *lua_sharedproto (lua_State *L, int idx) {
  const TValue *o;
  api_check(L, idx > 0 && L->ci->func.p + idx < L->top.p, "invalid index");
  o = s2v(L->ci->func.p + idx);
  return ttisLclosure(o) ? clLvalue(o)->p : NULL;
}


LUA_API int lua_pushsharedclosure (lua_State *L, const void *proto) {
  Proto *p = (Proto *)proto;
  LClosure *cl;
  if (G(L)->sharedg == NULL)
    return 0;  /* created before the code state was frozen: not sharing */
  lua_lock(L);
  cl = luaF_newLclosure(L, p->sizeupvalues);
  cl->p = p;  /* shared: never white, so no barrier */
  setclLvalue2s(L, L->top.p, cl);
  api_incr_top(L);
  luaF_initupvals(L, cl);
  if (cl->nupvalues >= 1) {  /* the first upvalue is the globals, as lua_load */
    const TValue *gt = &hvalue(&G(L)->l_registry)->array[LUA_RIDX_GLOBALS - 1];
    setobj(L, cl->upvals[0]->v.p, gt);
    luaC_barrier(L, cl->upvals[0], gt);
  }
  lua_unlock(L);
  return 1;
}
