//! `skynet.crypt` (and its alias `client.crypt`): skynet's `lualib-src/lua-crypt.c` and
//! `lsha1.c` are the contract (function names, argument checks, error texts, and every byte of
//! every result); the code is skybox's own. `des.rs` is DES, `digest.rs` the hashes and
//! Diffie-Hellman; this file binds them and holds the small encodings (base64, hex, xor).
//!
//! | function | what |
//! | --- | --- |
//! | `hashkey(s)` | 8-byte hash of a string |
//! | `randomkey()` | 8 random bytes, not all of them xoring to 0 |
//! | `desencode(key, text [, padding])`, `desdecode(...)` | DES-ECB, 8-byte key; `padding` from `crypt.padding` (`iso7816_4` default, `pkcs7`) |
//! | `hexencode(s)`, `hexdecode(s)` | lower-case hex |
//! | `hmac64(x, y)`, `hmac64_md5(x, y)`, `hmac_hash(key, text)` | skynet's 64-bit MACs (8-byte strings) |
//! | `dhexchange(x)`, `dhsecret(x, y)` | Diffie-Hellman on 8-byte numbers (little-endian) |
//! | `base64encode(s)`, `base64decode(s)` | base64 (decoding skips foreign bytes, tolerates missing `=`) |
//! | `sha1(s)`, `hmac_sha1(key, s)` | 20-byte digests |
//! | `xor_str(s, key)` | `s` xored with `key` repeated |

mod des;
mod digest;

use mlua::{Lua, LuaString, Result, Table};

use super::core_api::{guarded, wrap_raising};

/// The two padding modes, by the numbers `crypt.padding` gives them.
const ISO7816_4: i64 = 0;
const PKCS7: i64 = 1;

/// The module, as `require "skynet.crypt"` returns it: errors raised as strings, as skynet's.
pub(crate) fn module(lua: &Lua) -> Result<Table> {
    let module = wrap_raising(lua, table(lua)?)?;
    let padding = lua.create_table()?;
    padding.set("iso7816_4", ISO7816_4)?;
    padding.set("pkcs7", PKCS7)?;
    module.set("padding", padding)?;
    Ok(module)
}

/// The functions, each reporting its failure to `wrap_raising`'s trampoline.
fn table(lua: &Lua) -> Result<Table> {
    let t = lua.create_table()?;
    let bytes = |lua: &Lua, b: &[u8]| lua.create_string(b);
    t.set("hashkey", guarded(lua, move |lua, s: LuaString| bytes(lua, &digest::hashkey(&s.as_bytes())))?)?;
    t.set("randomkey", guarded(lua, move |lua, ()| bytes(lua, &random_key()))?)?;
    t.set(
        "desencode",
        guarded(lua, move |lua, (key, text, padding): (LuaString, LuaString, Option<i64>)| {
            bytes(lua, &des_encode(&key.as_bytes(), &text.as_bytes(), padding.unwrap_or(ISO7816_4))?)
        })?,
    )?;
    t.set(
        "desdecode",
        guarded(lua, move |lua, (key, text, padding): (LuaString, LuaString, Option<i64>)| {
            bytes(lua, &des_decode(&key.as_bytes(), &text.as_bytes(), padding.unwrap_or(ISO7816_4))?)
        })?,
    )?;
    t.set("hexencode", guarded(lua, move |lua, s: LuaString| bytes(lua, &hex_encode(&s.as_bytes())))?)?;
    t.set("hexdecode", guarded(lua, move |lua, s: LuaString| bytes(lua, &hex_decode(&s.as_bytes())?))?)?;
    // The two MACs of two 8-byte values.
    let mac = |f: fn([u32; 2], [u32; 2]) -> [u32; 2]| {
        guarded(lua, move |lua, (x, y): (LuaString, LuaString)| {
            let (x, y) = pair(&x, &y)?;
            bytes(lua, &digest::bytes(f(x, y)))
        })
    };
    t.set("hmac64", mac(digest::hmac64)?)?;
    t.set("hmac64_md5", mac(digest::hmac64_md5)?)?;
    t.set(
        "hmac_hash",
        guarded(lua, move |lua, (key, text): (LuaString, LuaString)| {
            let key = eight(&key, "Invalid uint64 key")?;
            bytes(lua, &digest::bytes(digest::hmac_hash(key, &text.as_bytes())))
        })?,
    )?;
    t.set(
        "dhexchange",
        guarded(lua, move |lua, x: LuaString| {
            let x = u64::from_le_bytes(eight(&x, "Invalid dh uint64 key")?);
            if x == 0 {
                return Err(mlua::Error::runtime("Can't be 0"));
            }
            bytes(lua, &digest::powmodp(digest::G, x).to_le_bytes())
        })?,
    )?;
    t.set(
        "dhsecret",
        guarded(lua, move |lua, (x, y): (LuaString, LuaString)| {
            let (x, y) = pair(&x, &y)?;
            let (x, y) = (u64::from_le_bytes(digest::bytes(x)), u64::from_le_bytes(digest::bytes(y)));
            if x == 0 || y == 0 {
                return Err(mlua::Error::runtime("Can't be 0"));
            }
            bytes(lua, &digest::powmodp(x, y).to_le_bytes())
        })?,
    )?;
    t.set("base64encode", guarded(lua, move |lua, s: LuaString| bytes(lua, &base64_encode(&s.as_bytes())))?)?;
    t.set(
        "base64decode",
        guarded(lua, move |lua, s: LuaString| bytes(lua, &base64_decode(&s.as_bytes())?))?,
    )?;
    t.set("sha1", guarded(lua, move |lua, s: LuaString| bytes(lua, &digest::sha1(&s.as_bytes())))?)?;
    t.set(
        "hmac_sha1",
        guarded(lua, move |lua, (key, text): (LuaString, LuaString)| {
            bytes(lua, &digest::hmac_sha1(&key.as_bytes(), &text.as_bytes()))
        })?,
    )?;
    t.set(
        "xor_str",
        guarded(lua, move |lua, (s, key): (LuaString, LuaString)| {
            let key = key.as_bytes();
            if key.is_empty() {
                return Err(mlua::Error::runtime("Can't xor empty string"));
            }
            let out: Vec<u8> = s.as_bytes().iter().zip(key.iter().cycle()).map(|(a, b)| a ^ b).collect();
            bytes(lua, &out)
        })?,
    )?;
    Ok(t)
}

fn eight(s: &LuaString, error: &'static str) -> Result<[u8; 8]> {
    <[u8; 8]>::try_from(&s.as_bytes()[..]).map_err(|_| mlua::Error::runtime(error))
}

/// Two 8-byte arguments as skynet reads them.
fn pair(x: &LuaString, y: &LuaString) -> Result<([u32; 2], [u32; 2])> {
    Ok((digest::words(eight(x, "Invalid uint64 x")?), digest::words(eight(y, "Invalid uint64 y")?)))
}

fn random_key() -> [u8; 8] {
    let mut key = [0u8; 8];
    if getrandom_fill(&mut key).is_err() {
        // No system randomness: the clock and the address space's layout, still never constant.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let seed = t.as_nanos() as u64 ^ (&key as *const _ as u64).rotate_left(32);
        key = seed.to_le_bytes();
    }
    if key.iter().fold(0, |x, b| x ^ b) == 0 {
        key[0] |= 1;
    }
    key
}

/// Fills `buf` from the kernel's random source.
fn getrandom_fill(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

fn des_key(key: &[u8]) -> Result<des::Schedule> {
    let key = <[u8; 8]>::try_from(key)
        .map_err(|_| mlua::Error::runtime(format!("Invalid key size {}, need 8 bytes", key.len())))?;
    Ok(des::Schedule::new(key))
}

fn check_padding(mode: i64) -> Result<()> {
    if mode == ISO7816_4 || mode == PKCS7 {
        Ok(())
    } else {
        Err(mlua::Error::runtime(format!("Invalid padding mode {mode}")))
    }
}

/// DES-ECB of `text` with the last block padded (a whole padding block when `text` fills its
/// blocks exactly).
fn des_encode(key: &[u8], text: &[u8], mode: i64) -> Result<Vec<u8>> {
    let key = des_key(key)?;
    check_padding(mode)?;
    let mut out = Vec::with_capacity((text.len() + 8) & !7);
    let mut blocks = text.chunks_exact(8);
    for block in &mut blocks {
        out.extend_from_slice(&key.encrypt(block.try_into().expect("8 bytes")));
    }
    let rest = blocks.remainder();
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    if mode == ISO7816_4 {
        last[rest.len()] = 0x80;
    } else {
        last[rest.len()..].fill((8 - rest.len()) as u8);
    }
    out.extend_from_slice(&key.encrypt(last));
    Ok(out)
}

fn des_decode(key: &[u8], text: &[u8], mode: i64) -> Result<Vec<u8>> {
    let key = des_key(key)?;
    if text.is_empty() || !text.len().is_multiple_of(8) {
        return Err(mlua::Error::runtime(format!("Invalid des crypt text length {}", text.len())));
    }
    check_padding(mode)?;
    let mut out = Vec::with_capacity(text.len());
    for block in text.chunks_exact(8) {
        out.extend_from_slice(&key.decrypt(block.try_into().expect("8 bytes")));
    }
    let last = &out[out.len() - 8..];
    let padding = if mode == ISO7816_4 {
        // Zeros back from the end, then the 0x80 marker.
        match last.iter().rev().position(|&b| b != 0) {
            Some(at) if last[7 - at] == 0x80 => at + 1,
            _ => 0,
        }
    } else {
        let n = usize::from(last[7]);
        if (1..=8).contains(&n) && last[8 - n..].iter().all(|&b| usize::from(b) == n) { n } else { 0 }
    };
    if padding == 0 {
        return Err(mlua::Error::runtime("Invalid des crypt text"));
    }
    out.truncate(out.len() - padding);
    Ok(out)
}

fn hex_encode(bytes: &[u8]) -> Vec<u8> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes.iter().flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]]).collect()
}

/// Lower-case hex; like skynet, `g` reads as 16 (its check lets it through) and anything else
/// outside `0-9a-f` is an error.
fn hex_decode(text: &[u8]) -> Result<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return Err(mlua::Error::runtime(format!("Invalid hex text size {}", text.len())));
    }
    let digit = |c: u8| if c.is_ascii_digit() { c - b'0' } else { c.wrapping_sub(b'a').wrapping_add(10) };
    text.chunks_exact(2)
        .map(|pair| {
            let (hi, lo) = (digit(pair[0]), digit(pair[1]));
            if hi > 16 || lo > 16 { Err(mlua::Error::runtime("Invalid hex text")) } else { Ok(hi << 4 | lo) }
        })
        .collect()
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let v = chunk.iter().enumerate().fold(0u32, |v, (i, &b)| v | u32::from(b) << (16 - 8 * i));
        let digits = chunk.len() + 1;
        for i in 0..4 {
            out.push(if i < digits { BASE64[(v >> (18 - 6 * i)) as usize & 63] } else { b'=' });
        }
    }
    out
}

/// What a byte is to the decoder: a digit, padding, or skipped.
enum Sym {
    Digit(u32),
    Pad,
    Skip,
}

fn sym(c: u8) -> Sym {
    match c {
        b'=' => Sym::Pad,
        _ => BASE64.iter().position(|&d| d == c).map_or(Sym::Skip, |v| Sym::Digit(v as u32)),
    }
}

/// Base64 as skynet decodes it: groups of four symbols, bytes that are not base64 skipped,
/// missing `=` at the end supplied, `=` allowed only as the last one or two of a group.
fn base64_decode(text: &[u8]) -> Result<Vec<u8>> {
    let invalid = || mlua::Error::runtime("Invalid base64 text");
    let mut out = Vec::with_capacity(text.len().div_ceil(4) * 3);
    let mut rest = text.iter().peekable();
    // As skynet: a group starts while any byte is left (even one it will skip), and takes four
    // symbols, foreign bytes skipped, padding once the text runs out.
    while rest.peek().is_some() {
        let mut group = [Sym::Pad, Sym::Pad, Sym::Pad, Sym::Pad];
        let mut j = 0;
        while j < 4 {
            let Some(&c) = rest.next() else { break };
            match sym(c) {
                Sym::Skip => {}
                s => {
                    group[j] = s;
                    j += 1;
                }
            }
        }
        let pads = group.iter().filter(|s| matches!(s, Sym::Pad)).count();
        let d = |i: usize| match group[i] {
            Sym::Digit(v) => v,
            _ => 0,
        };
        let is_pad = |i: usize| matches!(group[i], Sym::Pad);
        match pads {
            0 => {
                let v = d(0) << 18 | d(1) << 12 | d(2) << 6 | d(3);
                out.extend_from_slice(&[(v >> 16) as u8, (v >> 8) as u8, v as u8]);
            }
            1 if is_pad(3) && d(2) & 3 == 0 => {
                let v = d(0) << 10 | d(1) << 4 | d(2) >> 2;
                out.extend_from_slice(&[(v >> 8) as u8, v as u8]);
            }
            2 if is_pad(3) && is_pad(2) && d(1) & 15 == 0 => out.push((d(0) << 2 | d(1) >> 4) as u8),
            _ => return Err(invalid()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &[u8]) -> String {
        String::from_utf8(base64_encode(s)).unwrap()
    }

    #[test]
    fn skynets_own_des_vectors() {
        // skynet's test/testcrypt.lua: key "12345678".
        let enc = |text: &str, mode| b64(&des_encode(b"12345678", text.as_bytes(), mode).unwrap());
        assert_eq!(enc("hello world", ISO7816_4), "KNugLrX23UcGtcVlk9y+LA==");
        for (text, expected) in [
            ("", "/rlZt9RkL8s="),
            ("1", "g6AtgJul6q0="),
            ("12", "NefFpG+m1O4="),
            ("123", "LDiFUdf0iew="),
            ("1234", "T9u7dzBdi+w="),
            ("12345", "AGgKdx/Qic8="),
            ("123456", "ED5wLgc3Mnw="),
            ("1234567", "mYo+BYIT41M="),
            ("12345678", "ltACiHjVjIn+uVm31GQvyw=="),
        ] {
            assert_eq!(enc(text, PKCS7), expected, "{text:?}");
            let back = des_decode(b"12345678", &base64_decode(expected.as_bytes()).unwrap(), PKCS7).unwrap();
            assert_eq!(back, text.as_bytes());
        }
        let iso = des_encode(b"12345678", b"hello world", ISO7816_4).unwrap();
        assert_eq!(des_decode(b"12345678", &iso, ISO7816_4).unwrap(), b"hello world");
        assert!(des_decode(b"12345678", &iso, PKCS7).is_err(), "wrong padding mode");
        assert!(des_decode(b"1234567", &iso, PKCS7).is_err());
        assert!(des_decode(b"12345678", &iso[..5], PKCS7).is_err());
        assert!(des_encode(b"12345678", b"x", 2).is_err());
    }

    #[test]
    fn encodings_round_trip_and_refuse_what_skynet_refuses() {
        for text in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar", &[0, 255, 128, 7]] {
            assert_eq!(base64_decode(&base64_encode(text)).unwrap(), text);
            assert_eq!(hex_decode(&hex_encode(text)).unwrap(), text);
        }
        assert_eq!(b64(b"foobar"), "Zm9vYmFy");
        assert_eq!(b64(b"fo"), "Zm8=");
        assert_eq!(base64_decode(b"Zm8").unwrap(), b"fo", "missing padding is supplied");
        assert_eq!(base64_decode(b"Zm9v\nYmFy").unwrap(), b"foobar", "foreign bytes are skipped");
        assert!(base64_decode(b"Zm9v\n").is_err(), "but a group of them alone is four paddings");
        assert!(base64_decode(b"Z===").is_err());
        assert!(base64_decode(b"Zm9=").is_err(), "bits left in the last digit");
        assert_eq!(hex_encode(b"\x01\xab"), b"01ab");
        assert!(hex_decode(b"abc").is_err());
        assert!(hex_decode(b"zz").is_err());
        assert!(hex_decode(b"AB").is_err(), "upper case is not hex to skynet");
    }
}
