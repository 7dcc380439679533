//! The guest of the `abi` target: a WAT module that runs its request's payload as a program of
//! import calls, each with arguments the fuzzer chose.
//!
//! A program is a sequence of [`RECORD`]-byte records (a trailing partial one is ignored):
//!
//! | bytes | meaning |
//! | --- | --- |
//! | 0 | the operation, modulo 32 (the table at [`OPS`]) |
//! | 1..3 | `u16` LE: two bits per argument, how to read it (below) |
//! | 3..27 | six `i32` LE: the raw arguments `a` to `f` |
//!
//! An argument's two bits: 0, the raw value; 1, register `raw & 7`; 2, the payload's address
//! plus `raw` (a pointer into the program's own bytes, for strings); 3, string `raw & 63` of the
//! guest's table at 1024 (16-byte slots: [`STRINGS`]).
//!
//! Registers (`i32`s at address 0): r0 the last result, r1 the held message's handle (0 when
//! the payload was copied), r2 the sender, r3 the session, r4 the guest's address, r5 its memory
//! size in bytes, r6 the port of the harness's TCP listener, r7 the payload's address.
//!
//! Around each import that writes into guest memory (`msg_read`, `command`, `file_read`) the
//! guest puts a canary byte on each side of the range it passes and checks them afterwards: a
//! host write outside the range marks a violation, which the final answer reports.
//!
//! Only the first `CLIENT` (3) message runs to an answer: after its program the guest sends
//! itself an empty `CLIENT` message, and answers the request when that arrives (so everything
//! the program sent to itself before is handled first). The answer is 12 bytes: the nonce of the
//! launch arguments (which the program cannot read, so it cannot forge the answer) and the
//! violation count. Other `CLIENT` messages (ones the program sent itself) run their program
//! too; every other message is only received.

/// Bytes per record.
pub const RECORD: usize = 27;

/// The operations, by number (the first byte of a record, modulo 32), with their arguments.
pub const OPS: [&str; 32] = [
    "send(a b c d e)",
    "send_name(a b c d e f)",
    "redirect(a b c d e f)",
    "forward(a b c d e)",
    "msg_read(a b c d)",
    "msg_size(a)",
    "msg_free(a)",
    "forward_type(a b)",
    "genid()",
    "timeout(a)",
    "now()",
    "hpc()",
    "self()",
    "log(a b)",
    "command(a b c d e f)",
    "exit()",
    "memory.grow(a)",
    "socket_listen(a b c d)",
    "socket_connect(a b c)",
    "socket_udp(a b c)",
    "socket_start(a)",
    "socket_pause(a)",
    "socket_nodelay(a)",
    "socket_close(a)",
    "socket_shutdown(a)",
    "socket_send(a b c d)",
    "socket_send_to(a b c d e)",
    "file_read(a b c d)",
    "file_write(a b c d e)",
    "file_remove(a b)",
    "alloc_mode(a): skybox_alloc returns a from now on (0: a real block)",
    "unreachable (a trap)",
];

/// The string table (slot `i` at `1024 + 16 * i`): command names, names, hosts and file paths
/// the programs would otherwise have to spell out.
pub const STRINGS: [&str; 24] = [
    "QUERY",
    "REG",
    "NAME",
    "GETENV",
    "STAT",
    "MQLEN",
    "TIMEOUT",
    "EXIT",
    "PROFILE",
    "STARTTIME",
    ".fuzz",
    ":00000001",
    "127.0.0.1",
    "",
    "box/a",
    "box/b/c",
    "box/../x",
    "/etc/passwd",
    "nobox/a",
    "wasm_pool",
    "mqlen",
    "cpu",
    "box/",
    "localhost",
];

/// The module's text.
pub fn wat() -> String {
    let strings: String = STRINGS
        .iter()
        .enumerate()
        .map(|(i, s)| format!("  (data (i32.const {}) \"{s}\")\n", 1024 + 16 * i))
        .collect();
    format!("(module\n{IMPORTS}{MEMORY}{strings}{CODE})")
}

const IMPORTS: &str = concat!(
    include_str!("../../tests/support/imports.wat"),
    r#"
  (import "skybox" "socket_listen" (func $socket_listen (param i32 i32 i32 i32) (result i32)))
  (import "skybox" "socket_connect" (func $socket_connect (param i32 i32 i32) (result i32)))
  (import "skybox" "socket_udp" (func $socket_udp (param i32 i32 i32) (result i32)))
  (import "skybox" "socket_start" (func $socket_start (param i32) (result i32)))
  (import "skybox" "socket_pause" (func $socket_pause (param i32) (result i32)))
  (import "skybox" "socket_nodelay" (func $socket_nodelay (param i32) (result i32)))
  (import "skybox" "socket_close" (func $socket_close (param i32) (result i32)))
  (import "skybox" "socket_shutdown" (func $socket_shutdown (param i32) (result i32)))
  (import "skybox" "socket_send" (func $socket_send (param i32 i32 i32 i32) (result i32)))
  (import "skybox" "socket_send_to" (func $socket_send_to (param i32 i32 i32 i32 i32) (result i32)))
  (import "skybox" "file_read" (func $file_read (param i32 i32 i32 i32) (result i32)))
  (import "skybox" "file_write" (func $file_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "skybox" "file_remove" (func $file_remove (param i32 i32) (result i32)))
"#
);

/// Memory: registers at 0, the answer at 32, strings at 1024, a held message's copy at 4096
/// (4 KiB), every delivered block at 8192.
const MEMORY: &str = r#"
  (memory (export "memory") 1)
  (global $alloc_mode (mut i32) (i32.const 0))
  (global $caller (mut i32) (i32.const 0))
  (global $call_session (mut i32) (i32.const 0))
  (global $nonce_lo (mut i32) (i32.const 0))
  (global $nonce_hi (mut i32) (i32.const 0))
  (global $port (mut i32) (i32.const 0))
  (global $violations (mut i32) (i32.const 0))
  (global $guard_lo (mut i32) (i32.const -1))
  (global $guard_hi (mut i32) (i32.const -1))
"#;

const CODE: &str = r#"
  (func $mem_bytes (result i32) (i32.mul (memory.size) (i32.const 65536)))

  ;; skybox_alloc: the block at 8192 (growing memory to fit), or what alloc_mode says.
  (func (export "skybox_alloc") (param $n i32) (result i32)
    (local $need i64) (local $have i64)
    (if (global.get $alloc_mode) (then (return (global.get $alloc_mode))))
    (local.set $need (i64.add (i64.const 8192) (i64.extend_i32_u (local.get $n))))
    (local.set $have (i64.extend_i32_u (call $mem_bytes)))
    (if (i64.gt_u (local.get $need) (local.get $have))
      (then
        (if (i64.gt_u (local.get $need) (i64.const 0x1000000)) (then (return (i32.const 0))))
        (if (i32.eq (memory.grow (i32.wrap_i64 (i64.shr_u
              (i64.add (i64.sub (local.get $need) (local.get $have)) (i64.const 65535)) (i64.const 16))))
            (i32.const -1))
          (then (return (i32.const 0))))))
    (i32.const 8192))

  ;; Eight hex digits at $p.
  (func $hex8 (param $p i32) (result i32)
    (local $v i32) (local $i i32) (local $c i32)
    (loop $next
      (local.set $c (i32.load8_u (i32.add (local.get $p) (local.get $i))))
      (local.set $v (i32.or (i32.shl (local.get $v) (i32.const 4))
        (select (i32.sub (local.get $c) (i32.const 87)) (i32.sub (local.get $c) (i32.const 48))
          (i32.ge_u (local.get $c) (i32.const 97)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $i) (i32.const 8))))
    (local.get $v))

  ;; Arguments: "PORT NONCE_HI NONCE_LO" as 24 hex digits.
  (func (export "skybox_start") (param $p i32) (param $n i32)
    (if (i32.ge_u (local.get $n) (i32.const 24))
      (then
        (global.set $port (call $hex8 (local.get $p)))
        (global.set $nonce_hi (call $hex8 (i32.add (local.get $p) (i32.const 8))))
        (global.set $nonce_lo (call $hex8 (i32.add (local.get $p) (i32.const 16)))))))

  (func $reg (param $i i32) (result i32) (i32.load (i32.shl (i32.and (local.get $i) (i32.const 7)) (i32.const 2))))

  (func $arg (param $modes i32) (param $i i32) (param $raw i32) (result i32)
    (local $m i32)
    (local.set $m (i32.and (i32.shr_u (local.get $modes) (i32.shl (local.get $i) (i32.const 1))) (i32.const 3)))
    (if (i32.eq (local.get $m) (i32.const 1)) (then (return (call $reg (local.get $raw)))))
    (if (i32.eq (local.get $m) (i32.const 2)) (then (return (i32.add (call $reg (i32.const 7)) (local.get $raw)))))
    (if (i32.eq (local.get $m) (i32.const 3))
      (then (return (i32.add (i32.const 1024) (i32.shl (i32.and (local.get $raw) (i32.const 63)) (i32.const 4))))))
    (local.get $raw))

  ;; Canaries around [ptr, ptr + len) where they fall inside memory.
  (func $guard (param $ptr i32) (param $len i32)
    (local $hi i64)
    (global.set $guard_lo (i32.const -1))
    (global.set $guard_hi (i32.const -1))
    (if (i32.and (i32.ge_u (local.get $ptr) (i32.const 1)) (i32.le_u (local.get $ptr) (call $mem_bytes)))
      (then
        (global.set $guard_lo (i32.sub (local.get $ptr) (i32.const 1)))
        (i32.store8 (global.get $guard_lo) (i32.const 0xa5))))
    (local.set $hi (i64.add (i64.extend_i32_u (local.get $ptr)) (i64.extend_i32_u (local.get $len))))
    (if (i64.lt_u (local.get $hi) (i64.extend_i32_u (call $mem_bytes)))
      (then
        (global.set $guard_hi (i32.wrap_i64 (local.get $hi)))
        (i32.store8 (global.get $guard_hi) (i32.const 0x5a)))))

  (func $check (param $result i32) (result i32)
    (if (i32.ne (global.get $guard_lo) (i32.const -1))
      (then (if (i32.ne (i32.load8_u (global.get $guard_lo)) (i32.const 0xa5))
        (then (global.set $violations (i32.add (global.get $violations) (i32.const 1)))))))
    (if (i32.ne (global.get $guard_hi) (i32.const -1))
      (then (if (i32.ne (i32.load8_u (global.get $guard_hi)) (i32.const 0x5a))
        (then (global.set $violations (i32.add (global.get $violations) (i32.const 1)))))))
    (local.get $result))

  (func $op (param $op i32) (param $a i32) (param $b i32) (param $c i32) (param $d i32) (param $e i32) (param $f i32)
    (result i32)
    (block $trap (block $alloc_mode (block $file_remove (block $file_write (block $file_read
    (block $socket_send_to (block $socket_send (block $socket_shutdown (block $socket_close
    (block $socket_nodelay (block $socket_pause (block $socket_start (block $socket_udp
    (block $socket_connect (block $socket_listen (block $grow (block $exit (block $command
    (block $log (block $self (block $hpc (block $now (block $timeout (block $genid
    (block $forward_type (block $msg_free (block $msg_size (block $msg_read (block $forward
    (block $redirect (block $send_name (block $send
      (br_table $send $send_name $redirect $forward $msg_read $msg_size $msg_free $forward_type
        $genid $timeout $now $hpc $self $log $command $exit $grow $socket_listen $socket_connect
        $socket_udp $socket_start $socket_pause $socket_nodelay $socket_close $socket_shutdown
        $socket_send $socket_send_to $file_read $file_write $file_remove $alloc_mode $trap
        (i32.and (local.get $op) (i32.const 31))))
      (return (call $send (local.get $a) (local.get $b) (local.get $c) (local.get $d) (local.get $e))))
      (return (call $send_name (local.get $a) (local.get $b) (local.get $c) (local.get $d) (local.get $e) (local.get $f))))
      (return (call $redirect (local.get $a) (local.get $b) (local.get $c) (local.get $d) (local.get $e) (local.get $f))))
      (return (call $forward (local.get $a) (local.get $b) (local.get $c) (local.get $d) (local.get $e))))
      (call $guard (local.get $c) (local.get $d))
      (return (call $check (call $msg_read (local.get $a) (local.get $b) (local.get $c) (local.get $d)))))
      (return (call $msg_size (local.get $a))))
      (return (call $msg_free (local.get $a))))
      (return (call $forward_type (local.get $a) (local.get $b))))
      (return (call $genid)))
      (return (call $timeout (local.get $a))))
      (return (i32.wrap_i64 (call $now))))
      (return (i32.wrap_i64 (call $hpc))))
      (return (call $self)))
      (call $log (local.get $a) (local.get $b))
      (return (i32.const 0)))
      (call $guard (local.get $e) (local.get $f))
      (return (call $check (call $command (local.get $a) (local.get $b) (local.get $c) (local.get $d) (local.get $e) (local.get $f)))))
      (call $exit)
      (return (i32.const 0)))
      (return (memory.grow (local.get $a))))
      (return (call $socket_listen (local.get $a) (local.get $b) (local.get $c) (local.get $d))))
      (return (call $socket_connect (local.get $a) (local.get $b) (local.get $c))))
      (return (call $socket_udp (local.get $a) (local.get $b) (local.get $c))))
      (return (call $socket_start (local.get $a))))
      (return (call $socket_pause (local.get $a))))
      (return (call $socket_nodelay (local.get $a))))
      (return (call $socket_close (local.get $a))))
      (return (call $socket_shutdown (local.get $a))))
      (return (call $socket_send (local.get $a) (local.get $b) (local.get $c) (local.get $d))))
      (return (call $socket_send_to (local.get $a) (local.get $b) (local.get $c) (local.get $d) (local.get $e))))
      (call $guard (local.get $c) (local.get $d))
      (return (call $check (call $file_read (local.get $a) (local.get $b) (local.get $c) (local.get $d)))))
      (return (call $file_write (local.get $a) (local.get $b) (local.get $c) (local.get $d) (local.get $e))))
      (return (call $file_remove (local.get $a) (local.get $b))))
      (global.set $alloc_mode (local.get $a))
      (return (i32.const 0)))
    unreachable)

  ;; Runs the records of the program at $p (size $n).
  (func $run (param $p i32) (param $n i32)
    (local $modes i32) (local $end i32)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (block $done
      (loop $next
        (br_if $done (i32.gt_u (i32.add (local.get $p) (i32.const 27)) (local.get $end)))
        (local.set $modes (i32.load16_u offset=1 (local.get $p)))
        (i32.store (i32.const 0) (call $op
          (i32.load8_u (local.get $p))
          (call $arg (local.get $modes) (i32.const 0) (i32.load offset=3 (local.get $p)))
          (call $arg (local.get $modes) (i32.const 1) (i32.load offset=7 (local.get $p)))
          (call $arg (local.get $modes) (i32.const 2) (i32.load offset=11 (local.get $p)))
          (call $arg (local.get $modes) (i32.const 3) (i32.load offset=15 (local.get $p)))
          (call $arg (local.get $modes) (i32.const 4) (i32.load offset=19 (local.get $p)))
          (call $arg (local.get $modes) (i32.const 5) (i32.load offset=23 (local.get $p)))))
        (i32.store (i32.const 20) (call $mem_bytes))
        (local.set $p (i32.add (local.get $p) (i32.const 27)))
        (br $next))))

  (func $answer
    (i32.store (i32.const 32) (global.get $nonce_lo))
    (i32.store (i32.const 36) (global.get $nonce_hi))
    (i32.store (i32.const 40) (global.get $violations))
    (drop (call $send (global.get $caller) (i32.const 1) (global.get $call_session) (i32.const 32) (i32.const 12))))

  (func (export "skybox_dispatch")
    (param $ptype i32) (param $session i32) (param $source i32) (param $ptr i32) (param $size i32) (param $msg i32)
    (local $me i32) (local $first i32)
    (local.set $me (call $self))
    (if (local.get $msg)
      (then
        (local.set $size (call $msg_size (local.get $msg)))
        (if (i32.lt_s (local.get $size) (i32.const 0)) (then (local.set $size (i32.const 0))))
        (if (i32.gt_u (local.get $size) (i32.const 4096)) (then (local.set $size (i32.const 4096))))
        (drop (call $msg_read (local.get $msg) (i32.const 0) (i32.const 4096) (local.get $size)))
        (local.set $ptr (i32.const 4096))))
    (i32.store (i32.const 4) (local.get $msg))
    (i32.store (i32.const 8) (local.get $source))
    (i32.store (i32.const 12) (local.get $session))
    (i32.store (i32.const 16) (local.get $me))
    (i32.store (i32.const 20) (call $mem_bytes))
    (i32.store (i32.const 24) (global.get $port))
    (i32.store (i32.const 28) (local.get $ptr))
    (if (i32.ne (local.get $ptype) (i32.const 3)) (then (return)))
    ;; The end marker: answer the request.
    (if (i32.and (i32.eqz (local.get $size)) (i32.eq (local.get $source) (local.get $me)))
      (then (if (global.get $caller) (then (call $answer))) (return)))
    (local.set $first (i32.and (i32.eqz (global.get $caller)) (i32.ne (local.get $session) (i32.const 0))))
    (if (local.get $first)
      (then
        (global.set $caller (local.get $source))
        (global.set $call_session (local.get $session))))
    (call $run (local.get $ptr) (local.get $size))
    (if (local.get $first)
      (then
        (if (i32.lt_s (call $send (local.get $me) (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 0)) (i32.const 0))
          (then (call $answer))))))
"#;
