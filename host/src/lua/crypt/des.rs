//! DES (FIPS 46-3), one 64-bit block at a time, written from the standard's tables: bits are
//! numbered from 1 at the most significant end, as the standard numbers them, and every
//! permutation is a table lookup per bit. Clear rather than fast: `skynet.crypt` encrypts login
//! tokens, not streams.

/// Initial permutation.
const IP: [u8; 64] = [
    58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, 62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48,
    40, 32, 24, 16, 8, 57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3, 61, 53, 45, 37, 29, 21,
    13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
];

/// Expansion of a half block to 48 bits.
const E: [u8; 48] = [
    32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11, 12, 13, 12, 13, 14, 15, 16, 17, 16, 17, 18, 19, 20,
    21, 20, 21, 22, 23, 24, 25, 24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32, 1,
];

/// Permutation of the S-boxes' output.
const P: [u8; 32] = [
    16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6,
    22, 11, 4, 25,
];

/// Permuted choice 1: the key's 56 bits that matter.
const PC1: [u8; 56] = [
    57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44,
    36, 63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20,
    12, 4,
];

/// Permuted choice 2: a round key from the rotated halves.
const PC2: [u8; 48] = [
    14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2, 41, 52, 31, 37,
    47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
];

/// Left rotations of the key halves before each round.
const SHIFTS: [u32; 16] = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];

/// The eight S-boxes, each 4 rows of 16.
const S: [[u8; 64]; 8] = [
    [
        14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, 0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5,
        3, 8, 4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, 15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14,
        10, 0, 6, 13,
    ],
    [
        15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, 3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9,
        11, 5, 0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, 13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12,
        0, 5, 14, 9,
    ],
    [
        10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, 13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11,
        15, 1, 13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, 1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3,
        11, 5, 2, 12,
    ],
    [
        7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, 13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10,
        14, 9, 10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, 3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11,
        12, 7, 2, 14,
    ],
    [
        2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, 14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9,
        8, 6, 4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, 11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9,
        10, 4, 5, 3,
    ],
    [
        12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, 10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11,
        3, 8, 9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, 4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7,
        6, 0, 8, 13,
    ],
    [
        4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, 13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15,
        8, 6, 1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, 6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15,
        14, 2, 3, 12,
    ],
    [
        13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, 1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14,
        9, 2, 7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, 2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0,
        3, 5, 6, 11,
    ],
];

/// The bits of `input` (its low `width` bits, bit 1 the highest) picked in `table`'s order.
fn permute(input: u64, width: u32, table: &[u8]) -> u64 {
    table.iter().fold(0, |out, &bit| (out << 1) | ((input >> (width - u32::from(bit))) & 1))
}

/// The inverse of [`IP`], as the final permutation.
fn undo_ip(input: u64) -> u64 {
    let mut out = 0;
    for (i, &bit) in IP.iter().enumerate() {
        out |= ((input >> (63 - i)) & 1) << (64 - u32::from(bit));
    }
    out
}

/// A key's sixteen round keys.
pub(super) struct Schedule([u64; 16]);

impl Schedule {
    pub(super) fn new(key: [u8; 8]) -> Schedule {
        let cd = permute(u64::from_be_bytes(key), 64, &PC1);
        let (mut c, mut d) = ((cd >> 28) as u32, (cd & 0x0fff_ffff) as u32);
        let rotate = |half: u32, n: u32| ((half << n) | (half >> (28 - n))) & 0x0fff_ffff;
        let mut keys = [0; 16];
        for (key, &n) in keys.iter_mut().zip(&SHIFTS) {
            c = rotate(c, n);
            d = rotate(d, n);
            *key = permute((u64::from(c) << 28) | u64::from(d), 56, &PC2);
        }
        Schedule(keys)
    }

    /// The cipher function of one round.
    fn feistel(half: u32, key: u64) -> u32 {
        let x = permute(u64::from(half), 32, &E) ^ key;
        let mut out = 0u64;
        for (i, sbox) in S.iter().enumerate() {
            let six = ((x >> (42 - 6 * i)) & 0x3f) as usize;
            let row = ((six & 0x20) >> 4) | (six & 1);
            let column = (six >> 1) & 0xf;
            out = (out << 4) | u64::from(sbox[row * 16 + column]);
        }
        permute(out, 32, &P) as u32
    }

    fn rounds(&self, block: [u8; 8], keys: impl Iterator<Item = u64>) -> [u8; 8] {
        let x = permute(u64::from_be_bytes(block), 64, &IP);
        let (mut l, mut r) = ((x >> 32) as u32, x as u32);
        for key in keys {
            (l, r) = (r, l ^ Schedule::feistel(r, key));
        }
        undo_ip((u64::from(r) << 32) | u64::from(l)).to_be_bytes()
    }

    pub(super) fn encrypt(&self, block: [u8; 8]) -> [u8; 8] {
        self.rounds(block, self.0.iter().copied())
    }

    pub(super) fn decrypt(&self, block: [u8; 8]) -> [u8; 8] {
        self.rounds(block, self.0.iter().rev().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_textbook_vector_and_its_inverse() {
        // FIPS 46's worked example (key 133457799BBCDFF1).
        let key = Schedule::new(0x1334_5779_9bbc_dff1u64.to_be_bytes());
        let plain = 0x0123_4567_89ab_cdefu64.to_be_bytes();
        let cipher = key.encrypt(plain);
        assert_eq!(u64::from_be_bytes(cipher), 0x85e8_1354_0f0a_b405);
        assert_eq!(key.decrypt(cipher), plain);
        // The weak-key property: all-zero key and block.
        let zero = Schedule::new([0; 8]);
        assert_eq!(u64::from_be_bytes(zero.encrypt([0; 8])), 0x8ca6_4de9_c1b1_23a7);
    }
}
