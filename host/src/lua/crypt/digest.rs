//! The hashes of `skynet.crypt`: SHA-1 and HMAC-SHA1 (FIPS 180-4, RFC 2104); skynet's 64-bit
//! constructions on MD5's compression function (`hmac64`, `hmac64_md5`, `hmac_hash`); its
//! string hash for keys (`hashkey`: DJB and JS hashes side by side); and Diffie-Hellman over the
//! largest 64-bit prime with generator 5 (`dhexchange`, `dhsecret`). Byte for byte what
//! skynet's `lualib-src/lua-crypt.c` and `lsha1.c` give.

/// SHA-1 of `data`.
pub(super) fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476, 0xc3d2_e1f0];
    let bits = (data.len() as u64).wrapping_mul(8);
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bits.to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes(word.try_into().expect("4 bytes"));
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, &wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..20 => ((b & c) | (!b & d), 0x5a82_7999),
                20..40 => (b ^ c ^ d, 0x6ed9_eba1),
                40..60 => ((b & c) | (b & d) | (c & d), 0x8f1b_bcdc),
                _ => (b ^ c ^ d, 0xca62_c1d6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(wi);
            (e, d, c, b, a) = (d, c, b.rotate_left(30), a, t);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0; 20];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// HMAC-SHA1 (RFC 2104): keys longer than a block are hashed first.
pub(super) fn hmac_sha1(key: &[u8], text: &[u8]) -> [u8; 20] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..20].copy_from_slice(&sha1(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let mut inner = pad(0x36);
    inner.extend_from_slice(text);
    let mut outer = pad(0x5c);
    outer.extend_from_slice(&sha1(&inner));
    sha1(&outer)
}

/// MD5's per-step additive constants (RFC 1321).
const MD5_K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

/// MD5's per-step rotations, by round.
const MD5_SHIFTS: [[u32; 4]; 4] = [[7, 12, 17, 22], [5, 9, 14, 20], [4, 11, 16, 23], [6, 10, 15, 21]];

const MD5_IV: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// MD5's 64 steps over one block `w` from the standard initial state, without adding that state
/// back (skynet's constructions do their own finishing).
fn md5_steps(w: &[u32; 16]) -> [u32; 4] {
    let [mut a, mut b, mut c, mut d] = MD5_IV;
    for i in 0..64 {
        let (f, g) = match i / 16 {
            0 => ((b & c) | (!b & d), i),
            1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
            2 => (b ^ c ^ d, (3 * i + 5) % 16),
            _ => (c ^ (b | !d), (7 * i) % 16),
        };
        let sum = a.wrapping_add(f).wrapping_add(MD5_K[i]).wrapping_add(w[g]);
        (a, d, c) = (d, c, b);
        b = b.wrapping_add(sum.rotate_left(MD5_SHIFTS[i / 16][i % 4]));
    }
    [a, b, c, d]
}

/// A 64-bit value as skynet reads 8 bytes: two little-endian words, low word first.
pub(super) fn words(bytes: [u8; 8]) -> [u32; 2] {
    let word = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
    [word(0), word(4)]
}

/// The 8 bytes of two words, as skynet writes them.
pub(super) fn bytes(words: [u32; 2]) -> [u8; 8] {
    let mut out = [0; 8];
    out[..4].copy_from_slice(&words[0].to_le_bytes());
    out[4..].copy_from_slice(&words[1].to_le_bytes());
    out
}

/// `hmac64(x, y)`: MD5's steps over `x` and `y` (high words first) repeated four times, folded to
/// 64 bits as `(c ^ d, a ^ b)`.
pub(super) fn hmac64(x: [u32; 2], y: [u32; 2]) -> [u32; 2] {
    let mut w = [0; 16];
    for chunk in w.chunks_exact_mut(4) {
        chunk.copy_from_slice(&[x[1], x[0], y[1], y[0]]);
    }
    let r = md5_steps(&w);
    [r[2] ^ r[3], r[0] ^ r[1]]
}

/// `hmac64_md5(x, y)`: the MD5 of `(x .. y)` three times (one padded block), its two halves
/// xored together.
pub(super) fn hmac64_md5(x: [u32; 2], y: [u32; 2]) -> [u32; 2] {
    let mut w = [0; 16];
    for chunk in w[..12].chunks_exact_mut(4) {
        chunk.copy_from_slice(&[x[0], x[1], y[0], y[1]]);
    }
    w[12] = 0x80;
    w[14] = 384;
    let r = md5_steps(&w);
    let h = |i: usize| r[i].wrapping_add(MD5_IV[i]);
    [h(0) ^ h(2), h(1) ^ h(3)]
}

/// `hashkey(s)`: skynet's 8-byte string hash, DJB's then JS's, each little-endian.
pub(super) fn hashkey(text: &[u8]) -> [u8; 8] {
    let (mut djb, mut js) = (5381u32, 1_315_423_911u32);
    for &c in text {
        djb = djb.wrapping_add((djb << 5).wrapping_add(u32::from(c)));
        js ^= (js << 5).wrapping_add(u32::from(c)).wrapping_add(js >> 2);
    }
    let mut out = [0; 8];
    out[..4].copy_from_slice(&djb.to_le_bytes());
    out[4..].copy_from_slice(&js.to_le_bytes());
    out
}

/// `hmac_hash(key, text)`: [`hmac64`] of the text's [`hashkey`] and the key.
pub(super) fn hmac_hash(key: [u8; 8], text: &[u8]) -> [u32; 2] {
    hmac64(words(hashkey(text)), words(key))
}

/// The largest prime below 2^64.
const P: u64 = 0xffff_ffff_ffff_ffc5;
/// The Diffie-Hellman generator.
pub(super) const G: u64 = 5;

/// `a^b mod P` (`b > 0`), as skynet computes it (a base above P is reduced first).
pub(super) fn powmodp(a: u64, b: u64) -> u64 {
    let mul = |x: u64, y: u64| ((u128::from(x) * u128::from(y)) % u128::from(P)) as u64;
    let (mut base, mut exp, mut acc) = (if a > P { a % P } else { a }, b, 1u64);
    while exp > 0 {
        if exp & 1 == 1 {
            acc = mul(acc, base);
        }
        base = mul(base, base);
        exp >>= 1;
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha1_and_hmac_sha1_match_the_standards_vectors() {
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(hex(&sha1(b"abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
        let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(hex(&sha1(long)), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
        // RFC 2202, cases 1, 2 and 6 (a key longer than a block).
        assert_eq!(hex(&hmac_sha1(&[0x0b; 20], b"Hi There")), "b617318655057264e28bc0b6fb378c8ef146be00");
        assert_eq!(
            hex(&hmac_sha1(b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            hex(&hmac_sha1(&[0xaa; 80], b"Test Using Larger Than Block-Size Key - Hash Key First")),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112"
        );
    }

    #[test]
    fn md5_steps_give_md5_when_finished_as_md5_finishes() {
        // MD5("") is one padded block: 0x80, zeros, length 0.
        let mut w = [0u32; 16];
        w[0] = 0x80;
        let r = md5_steps(&w);
        let mut digest = Vec::new();
        for (x, iv) in r.iter().zip(MD5_IV) {
            digest.extend_from_slice(&x.wrapping_add(iv).to_le_bytes());
        }
        assert_eq!(hex(&digest), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn diffie_hellman_agrees() {
        assert_eq!(powmodp(G, 1), 5);
        assert_eq!(powmodp(P + 7, 1), 7);
        let (a, b) = (0x1234_5678_9abc_def0, 0x0fed_cba9_8765_4321);
        assert_eq!(powmodp(powmodp(G, a), b), powmodp(powmodp(G, b), a));
    }
}
