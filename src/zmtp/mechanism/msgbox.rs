//! The MESSAGE box of CURVE, built for many small boxes under one key.
//!
//! A CurveZMQ MESSAGE is `crypto_box_afternm` (XSalsa20-Poly1305) under the connection's
//! precomputed key with the 24-byte nonce `"CurveZMQMESSAGE" + C|S + short nonce (8)`.
//! XSalsa20 with a 24-byte nonce is Salsa20 keyed by `HSalsa20(key, nonce[..16])` with the
//! remaining 8 bytes as its nonce. The first 16 nonce bytes are the same for every MESSAGE
//! in one direction, so [`MessageKey`] runs HSalsa20 (RustCrypto's `salsa20::hsalsa`) once
//! per connection and direction, and each box is then one Salsa20 keystream plus one
//! Poly1305 tag. The bytes are exactly those of `crypto_box_afternm`; the tests check them
//! against `crypto_box::SalsaBox` for random keys, nonces and lengths.
//!
//! The keystream is made by [`salsa_blocks4`], four blocks side by side so that the rounds
//! compile to vector instructions; the `salsa20` crate computes one block at a time with
//! scalar code, which was half of a CURVE sender's CPU time at 1 KiB. It is checked
//! against the `salsa20` crate for every block position.
//!
//! Poly1305 is computed by [`poly1305_tag`], a 64-bit-limb implementation of RFC 8439
//! §2.5 in constant-time integer arithmetic, two blocks at a time. It replaces the
//! `poly1305` crate on this one path because that crate's runtime-selected AVX2 backend
//! recomputes a table of powers of `r` at the start of every tag, which for CurveZMQ's
//! typical 16 B–1 KiB messages cost more than the rest of the box.
//!
//! # Key agreement
//! [`x25519`] multiplies by the clamped secret key itself (`MontgomeryPoint::mul_clamped`),
//! as RFC 7748 defines X25519: `crypto_box::SalsaBox::new` reduces the clamped scalar
//! modulo the group order, which changes the result for a public key with a low-order
//! component, so every CURVE box key (handshake and MESSAGE) comes from [`beforenm`] here.
//! It passes all 518 X25519 vectors of Project Wycheproof (`tests/data/`); the 31 whose
//! shared secret is all zero (low-order public keys) are refused, as libsodium's
//! `crypto_box_beforenm` refuses them, so a CURVE peer offering such a key fails the
//! handshake instead of getting a key anyone can compute.
//!
//! # Evidence
//! - Known answers from sources independent of this code: NaCl's and libsodium's
//!   `crypto_box` vector (`test/default/box.c`, `box.exp`: Alice's secret key, Bob's public
//!   key, a 24-byte nonce, 131 bytes), RFC 8439's Poly1305 vectors, and Salsa20 blocks
//!   against the `salsa20` crate at every block position.
//! - Differential checks against RustCrypto's `crypto_box::SalsaBox`: a property test
//!   (random keys, nonces, lengths 0–1200, forgeries) and the `curve_box` fuzz target, which
//!   CI runs.
//! - The feature `rustcrypto-box` replaces this path by `crypto_box::SalsaBox` itself (the
//!   same bytes, checked by the same tests, which CI runs both ways), for users who want
//!   only reviewed primitives.
//!
//! # Constant time
//! Nothing here branches on or indexes by a secret. Salsa20 is additions, XORs and fixed
//! rotations of 32-bit words, the same for every key and nonce; the only data-dependent
//! choice is the message length, which is public. Poly1305 works on 64-bit limbs with
//! 128-bit products (`u128` multiplications, which compile to constant-time `mul` on 64-bit
//! targets); carries are propagated by shifts and masks, never by comparisons, and the final
//! reduction selects between `h` and `h - p` with a mask made from the borrow bit. Opening
//! compares tags with `subtle::ConstantTimeEq` and decrypts only after the comparison, so a
//! forgery learns nothing from timing but the (public) failure. Key material (`subkey`, the
//! first keystream block holding the one-time Poly1305 key) is zeroized on drop or after use.

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crypto_box::{PublicKey, SecretKey};

/// The key of one direction of a CURVE connection: `HSalsa20(beforenm key, prefix)`.
#[derive(Clone)]
pub(crate) struct MessageKey {
    subkey: [u8; 32],
    /// With `rustcrypto-box`: RustCrypto's box under the same keys seals and opens, and
    /// `subkey` only serves the differential tests.
    #[cfg(feature = "rustcrypto-box")]
    reference: reference::Boxer,
}

impl Drop for MessageKey {
    fn drop(&mut self) {
        self.subkey.zeroize();
    }
}

/// X25519 (RFC 7748 §5) of the secret key `secret` (clamped) and the public key `peer`,
/// or `None` when the shared secret is all zero, as libsodium's `crypto_scalarmult`
/// refuses it: a public key of low order would otherwise give a key anyone can compute.
/// The scalar is the clamped secret itself, not reduced modulo the group order: a public
/// key with a low-order component (a point on the twist, say) must not make the result
/// depend on anything but the clamped scalar.
pub(crate) fn x25519(secret: &[u8; 32], peer: &[u8; 32]) -> Option<[u8; 32]> {
    let point = curve25519_dalek::montgomery::MontgomeryPoint(*peer);
    let mut shared = point.mul_clamped(*secret).to_bytes();
    // Compared in constant time: which public keys are refused is public, the result is not.
    if bool::from(shared.ct_eq(&[0u8; 32])) {
        shared.zeroize();
        return None;
    }
    Some(shared)
}

/// `crypto_box_beforenm`: HSalsa20 of the X25519 shared secret with a zero input, or `None`
/// when libsodium's `crypto_box_beforenm` fails too (an all-zero shared secret, see
/// [`x25519`]).
pub(crate) fn beforenm(peer: &PublicKey, secret: &SecretKey) -> Option<[u8; 32]> {
    let mut sk = secret.to_bytes();
    let shared = x25519(&sk, peer.as_bytes());
    sk.zeroize();
    let mut shared = shared?;
    let key =
        salsa20::hsalsa::<salsa20::cipher::consts::U10>((&shared).into(), &Default::default());
    shared.zeroize();
    Some(key.into())
}

impl MessageKey {
    /// The key for boxes between `secret` and `peer` whose nonces start with `prefix`;
    /// `None` for a peer key that [`beforenm`] refuses.
    pub(crate) fn new(
        peer: &PublicKey,
        secret: &SecretKey,
        prefix: &[u8; 16],
    ) -> Option<MessageKey> {
        let mut k = beforenm(peer, secret)?;
        let subkey = salsa20::hsalsa::<salsa20::cipher::consts::U10>((&k).into(), prefix.into());
        let key = MessageKey {
            subkey: subkey.into(),
            #[cfg(feature = "rustcrypto-box")]
            reference: reference::Boxer::new(&k, prefix),
        };
        k.zeroize();
        Some(key)
    }

    /// The Salsa20 input of one box and its first keystream block (whose first 32 bytes
    /// are the box's Poly1305 key).
    fn first_block(&self, short_nonce: u64) -> ([u32; 16], [u8; 64]) {
        let input = salsa_input(&self.subkey, short_nonce);
        let mut block = [0u8; 64];
        salsa_block(&input, 0, &mut block);
        (input, block)
    }

    /// Encrypts `data` in place and returns the tag (the 16 bytes that precede the
    /// ciphertext in a box).
    pub(crate) fn seal_in_place(&self, short_nonce: u64, data: &mut [u8]) -> [u8; 16] {
        #[cfg(feature = "rustcrypto-box")]
        {
            self.reference.seal_in_place(short_nonce, data)
        }
        #[cfg(not(feature = "rustcrypto-box"))]
        {
            self.seal_in_place_own(short_nonce, data)
        }
    }

    /// [`seal_in_place`](Self::seal_in_place) by this module's own Salsa20 and Poly1305.
    fn seal_in_place_own(&self, short_nonce: u64, data: &mut [u8]) -> [u8; 16] {
        let (input, mut first) = self.first_block(short_nonce);
        xor_stream(&input, &first, data);
        let tag = poly1305_tag(first[..32].try_into().expect("32 bytes"), data);
        first.zeroize();
        tag
    }

    /// Checks `tag` over the ciphertext `data` and decrypts it in place. On a bad tag
    /// `data` is left as it was and `false` is returned.
    #[must_use]
    pub(crate) fn open_in_place(&self, short_nonce: u64, tag: &[u8], data: &mut [u8]) -> bool {
        #[cfg(feature = "rustcrypto-box")]
        {
            self.reference.open_in_place(short_nonce, tag, data)
        }
        #[cfg(not(feature = "rustcrypto-box"))]
        {
            self.open_in_place_own(short_nonce, tag, data)
        }
    }

    /// [`open_in_place`](Self::open_in_place) by this module's own Salsa20 and Poly1305.
    #[must_use]
    fn open_in_place_own(&self, short_nonce: u64, tag: &[u8], data: &mut [u8]) -> bool {
        let (input, mut first) = self.first_block(short_nonce);
        let expected = poly1305_tag(first[..32].try_into().expect("32 bytes"), data);
        let ok = bool::from(expected.ct_eq(tag));
        if ok {
            xor_stream(&input, &first, data);
        }
        first.zeroize();
        ok
    }
}

/// RustCrypto's XSalsa20-Poly1305 behind the same interface: the feature `rustcrypto-box`
/// seals and opens with `crypto_secretbox` under [`beforenm`]'s key, and the differential
/// checks compare against `crypto_box::SalsaBox` (RustCrypto's key agreement as well).
pub(crate) mod reference {
    use crypto_box::aead::consts::{U16, U24};
    use crypto_box::aead::{generic_array::GenericArray, AeadInPlace, KeyInit};
    use crypto_box::{PublicKey, SalsaBox, SecretKey};
    use crypto_secretbox::XSalsa20Poly1305;

    /// One direction's box and nonce prefix.
    #[derive(Clone)]
    pub(crate) struct Boxer<A = XSalsa20Poly1305> {
        inner: std::sync::Arc<A>,
        prefix: [u8; 16],
    }

    impl Boxer {
        /// The box under a `crypto_box_beforenm` key.
        #[cfg_attr(not(feature = "rustcrypto-box"), allow(dead_code))]
        pub(crate) fn new(key: &[u8; 32], prefix: &[u8; 16]) -> Boxer {
            Boxer {
                inner: std::sync::Arc::new(XSalsa20Poly1305::new(key.into())),
                prefix: *prefix,
            }
        }
    }

    impl Boxer<SalsaBox> {
        /// `crypto_box::SalsaBox`, its key agreement included (for honest keys only: it
        /// reduces the clamped scalar, which changes the result for a public key with a
        /// low-order component).
        pub(crate) fn crypto_box(
            peer: &PublicKey,
            secret: &SecretKey,
            prefix: &[u8; 16],
        ) -> Boxer<SalsaBox> {
            Boxer {
                inner: std::sync::Arc::new(SalsaBox::new(peer, secret)),
                prefix: *prefix,
            }
        }
    }

    impl<A: AeadInPlace<NonceSize = U24, TagSize = U16>> Boxer<A> {
        fn nonce(&self, short_nonce: u64) -> [u8; 24] {
            let mut n = [0u8; 24];
            n[..16].copy_from_slice(&self.prefix);
            n[16..].copy_from_slice(&short_nonce.to_be_bytes());
            n
        }

        pub(crate) fn seal_in_place(&self, short_nonce: u64, data: &mut [u8]) -> [u8; 16] {
            let n = self.nonce(short_nonce);
            // Sealing under a valid key cannot fail: the slice API has no length limit
            // below what memory holds.
            let tag = self
                .inner
                .encrypt_in_place_detached(GenericArray::from_slice(&n), b"", data)
                .expect("XSalsa20Poly1305 sealing does not fail");
            tag.into()
        }

        /// Verifies before decrypting: on a bad tag `data` is left as it was.
        pub(crate) fn open_in_place(&self, short_nonce: u64, tag: &[u8], data: &mut [u8]) -> bool {
            if tag.len() != 16 {
                return false;
            }
            let n = self.nonce(short_nonce);
            self.inner
                .decrypt_in_place_detached(
                    GenericArray::from_slice(&n),
                    b"",
                    data,
                    GenericArray::from_slice(tag),
                )
                .is_ok()
        }
    }
}

/// Seals and opens `body` with this module's own code and with RustCrypto's box, both
/// directions, and panics where they disagree; a forged byte must be refused by both.
/// The differential fuzz target (`curve_box`) drives it.
pub(crate) fn differential(a: [u8; 32], b: [u8; 32], server: bool, nonce: u64, body: &[u8]) {
    let (sa, sb) = (SecretKey::from(a), SecretKey::from(b));
    let prefix: &[u8; 16] = if server {
        b"CurveZMQMESSAGES"
    } else {
        b"CurveZMQMESSAGEC"
    };
    let ours = MessageKey::new(&sb.public_key(), &sa, prefix).expect("a key of prime order");
    let theirs = reference::Boxer::crypto_box(&sb.public_key(), &sa, prefix);
    let mut data = body.to_vec();
    let tag = ours.seal_in_place_own(nonce, &mut data);
    let mut expected = body.to_vec();
    let expected_tag = theirs.seal_in_place(nonce, &mut expected);
    assert_eq!(data, expected, "ciphertexts differ");
    assert_eq!(tag, expected_tag, "tags differ");
    let other = MessageKey::new(&sa.public_key(), &sb, prefix).expect("a key of prime order");
    let other_ref = reference::Boxer::crypto_box(&sa.public_key(), &sb, prefix);
    let mut opened = data.clone();
    assert!(other.open_in_place_own(nonce, &tag, &mut opened));
    assert_eq!(opened, body, "opened text differs");
    if let Some(first) = body.first() {
        let i = *first as usize % data.len();
        let mut forged = data.clone();
        forged[i] ^= 1;
        let before = forged.clone();
        assert!(!other.open_in_place_own(nonce, &tag, &mut forged));
        assert_eq!(forged, before, "a refused box was modified");
        assert!(!other_ref.open_in_place(nonce, &tag, &mut forged));
    }
}

/// XORs `data` with a box's keystream from byte 32 on: the rest of `first` (block 0),
/// then blocks 1, 2, ... four at a time.
fn xor_stream(input: &[u32; 16], first: &[u8; 64], data: &mut [u8]) {
    let (head, rest) = data.split_at_mut(data.len().min(32));
    xor_into(head, &first[32..]);
    let mut counter = 1u64;
    let mut wide = rest.chunks_exact_mut(4 * 64);
    let mut blocks = [[0u8; 64]; 4];
    for chunk in &mut wide {
        salsa_blocks4(input, counter, &mut blocks);
        counter += 4;
        for (c, b) in chunk.chunks_exact_mut(64).zip(blocks.iter()) {
            xor_into(c, b);
        }
    }
    let tail = wide.into_remainder();
    if tail.len() > 64 {
        salsa_blocks4(input, counter, &mut blocks);
        for (c, b) in tail.chunks_mut(64).zip(blocks.iter()) {
            xor_into(c, b);
        }
    } else if !tail.is_empty() {
        let mut block = [0u8; 64];
        salsa_block(input, counter, &mut block);
        xor_into(tail, &block);
        block.zeroize();
    }
    blocks.zeroize();
}

#[inline(always)]
fn xor_into(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= s;
    }
}

/// The Salsa20 input block for `key` and the 8-byte nonce, counter words left at zero.
fn salsa_input(key: &[u8; 32], nonce: u64) -> [u32; 16] {
    let k = |i: usize| u32::from_le_bytes(key[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
    let n = nonce.to_be_bytes();
    let nw = |i: usize| u32::from_le_bytes(n[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
    // "expand 32-byte k"
    [
        0x6170_7865,
        k(0),
        k(1),
        k(2),
        k(3),
        0x3320_646e,
        nw(0),
        nw(1),
        0,
        0,
        0x7962_2d32,
        k(4),
        k(5),
        k(6),
        k(7),
        0x6b20_6574,
    ]
}

/// Four lanes of a Salsa20 state word, one per block: `wide`'s portable vector type
/// (SSE2 on any x86-64, NEON on aarch64, plain arrays elsewhere).
type V = wide::u32x4;

#[inline(always)]
fn vadd(a: V, b: V) -> V {
    a + b
}

#[inline(always)]
fn vxor_rot(x: V, s: V, r: u32) -> V {
    x ^ (s << r) ^ (s >> (32 - r))
}

/// One Salsa20 quarter round over four state words held in locals.
macro_rules! quarter {
    ($f:ident, $add:ident, $a:ident, $b:ident, $c:ident, $d:ident) => {
        $b = $f($b, $add($a, $d), 7);
        $c = $f($c, $add($b, $a), 9);
        $d = $f($d, $add($c, $b), 13);
        $a = $f($a, $add($d, $c), 18);
    };
}

/// The 20 rounds (10 double rounds) over sixteen state words held in locals.
macro_rules! salsa_rounds {
    ($f:ident, $add:ident, $x:ident) => {{
        let [mut x0, mut x1, mut x2, mut x3, mut x4, mut x5, mut x6, mut x7, mut x8, mut x9, mut x10, mut x11, mut x12, mut x13, mut x14, mut x15] =
            $x;
        for _ in 0..10 {
            quarter!($f, $add, x0, x4, x8, x12);
            quarter!($f, $add, x5, x9, x13, x1);
            quarter!($f, $add, x10, x14, x2, x6);
            quarter!($f, $add, x15, x3, x7, x11);
            quarter!($f, $add, x0, x1, x2, x3);
            quarter!($f, $add, x5, x6, x7, x4);
            quarter!($f, $add, x10, x11, x8, x9);
            quarter!($f, $add, x15, x12, x13, x14);
        }
        [x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15]
    }};
}

#[inline(always)]
fn sadd(a: u32, b: u32) -> u32 {
    a.wrapping_add(b)
}

#[inline(always)]
fn sxor_rot(x: u32, s: u32, r: u32) -> u32 {
    x ^ s.rotate_left(r)
}

/// One Salsa20 block (block number `counter`).
fn salsa_block(input: &[u32; 16], counter: u64, out: &mut [u8; 64]) {
    let mut x = *input;
    x[8] = counter as u32;
    x[9] = (counter >> 32) as u32;
    let start = x;
    let mut y = salsa_rounds!(sxor_rot, sadd, x);
    for (w, o) in out.chunks_exact_mut(4).enumerate() {
        o.copy_from_slice(&y[w].wrapping_add(start[w]).to_le_bytes());
    }
    y.zeroize();
    x.zeroize();
}

/// Four consecutive Salsa20 blocks starting at block `counter`, computed side by side:
/// every state word holds one lane per block, so the rounds run as vector instructions.
fn salsa_blocks4(input: &[u32; 16], counter: u64, out: &mut [[u8; 64]; 4]) {
    let mut x: [V; 16] = std::array::from_fn(|w| V::splat(input[w]));
    let c: [u64; 4] = std::array::from_fn(|j| counter + j as u64);
    x[8] = V::new(c.map(|c| c as u32));
    x[9] = V::new(c.map(|c| (c >> 32) as u32));
    let start = x;
    let y = salsa_rounds!(vxor_rot, vadd, x);
    let mut words: [[u32; 4]; 16] = std::array::from_fn(|w| (y[w] + start[w]).to_array());
    for (j, block) in out.iter_mut().enumerate() {
        for (w, o) in block.chunks_exact_mut(4).enumerate() {
            o.copy_from_slice(&words[w][j].to_le_bytes());
        }
    }
    words.zeroize();
}

const MASK44: u64 = (1 << 44) - 1;
const MASK42: u64 = (1 << 42) - 1;

#[inline(always)]
fn le64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// Carries every limb fully (two passes): each within its 44, 44 or 42 bits.
#[inline(always)]
fn poly_full_carry([mut h0, mut h1, mut h2]: [u64; 3]) -> [u64; 3] {
    for _ in 0..2 {
        let c = h1 >> 44;
        h1 &= MASK44;
        h2 += c;
        let c = h2 >> 42;
        h2 &= MASK42;
        h0 += c * 5;
        let c = h0 >> 44;
        h0 &= MASK44;
        h1 += c;
    }
    [h0, h1, h2]
}

/// A Poly1305 multiplier in limbs of 44, 44 and 42 bits, with `s1`/`s2` folding the
/// reduction by 2^130 - 5 (times 4 for the limb offsets) into the multiplication.
#[derive(Clone, Copy)]
struct PolyKey {
    r: [u64; 3],
    s1: u64,
    s2: u64,
}

impl PolyKey {
    #[inline(always)]
    fn new(r: [u64; 3]) -> Self {
        PolyKey {
            r,
            s1: r[1] * (5 << 2),
            s2: r[2] * (5 << 2),
        }
    }

    /// `h · r`, not yet carried.
    #[inline(always)]
    fn mul(&self, h: [u64; 3]) -> [u128; 3] {
        let w = |a: u64, b: u64| a as u128 * b as u128;
        let [r0, r1, r2] = self.r;
        [
            w(h[0], r0) + w(h[1], self.s2) + w(h[2], self.s1),
            w(h[0], r1) + w(h[1], r0) + w(h[2], self.s2),
            w(h[0], r2) + w(h[1], r1) + w(h[2], r0),
        ]
    }
}

/// Carries a product back into limbs: the middle one may exceed its 44 bits by a little
/// (the next multiplication absorbs it; `poly_full_carry` ends that).
#[inline(always)]
fn poly_carry(d: [u128; 3]) -> [u64; 3] {
    let c = (d[0] >> 44) as u64;
    let mut h0 = d[0] as u64 & MASK44;
    let d1 = d[1] + c as u128;
    let c = (d1 >> 44) as u64;
    let mut h1 = d1 as u64 & MASK44;
    let d2 = d[2] + c as u128;
    let c = (d2 >> 42) as u64;
    let h2 = d2 as u64 & MASK42;
    h0 += c * 5;
    let c = h0 >> 44;
    h0 &= MASK44;
    h1 += c;
    [h0, h1, h2]
}

/// A 16-byte block as limbs, with `hibit` (2^128 for a full block) above it.
#[inline(always)]
fn poly_limbs(m: &[u8], hibit: u64) -> [u64; 3] {
    let m0 = le64(&m[0..8]);
    let m1 = le64(&m[8..16]);
    [
        m0 & MASK44,
        ((m0 >> 44) | (m1 << 20)) & MASK44,
        ((m1 >> 24) & MASK42) | hibit,
    ]
}

/// The Poly1305 one-time authenticator (RFC 8439 §2.5) of `msg` under the 32-byte
/// one-time key `key`, with the accumulator in three limbs of 44, 44 and 42 bits.
pub(crate) fn poly1305_tag(key: &[u8; 32], msg: &[u8]) -> [u8; 16] {
    // r, clamped, split into limbs.
    let t0 = le64(&key[0..8]);
    let t1 = le64(&key[8..16]);
    let r = PolyKey::new([
        t0 & 0xffc_0fff_ffff,
        ((t0 >> 44) | (t1 << 20)) & 0xfff_ffc0_ffff,
        (t1 >> 24) & 0x00f_ffff_fc0f,
    ]);
    let add = |h: [u64; 3], m: [u64; 3]| [h[0] + m[0], h[1] + m[1], h[2] + m[2]];
    let mut h = [0u64; 3];

    // Two blocks at a time: h = (h + m1)·r² + m2·r. The two products do not wait for
    // each other, which the processor runs side by side; one carry serves both.
    let mut pairs = msg.chunks_exact(32);
    if pairs.len() > 0 {
        let r2 = PolyKey::new(poly_full_carry(poly_carry(r.mul(r.r))));
        for p in &mut pairs {
            let a = r2.mul(add(h, poly_limbs(&p[..16], 1 << 40)));
            let b = r.mul(poly_limbs(&p[16..], 1 << 40));
            h = poly_carry([a[0] + b[0], a[1] + b[1], a[2] + b[2]]);
        }
    }
    let mut blocks = pairs.remainder().chunks_exact(16);
    for m in &mut blocks {
        h = poly_carry(r.mul(add(h, poly_limbs(m, 1 << 40))));
    }
    let rest = blocks.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 16];
        last[..rest.len()].copy_from_slice(rest);
        last[rest.len()] = 1;
        h = poly_carry(r.mul(add(h, poly_limbs(&last, 0))));
    }
    let [mut h0, mut h1, mut h2] = poly_full_carry(h);
    // Reduce h below p = 2^130 - 5 without branching.
    let mut g0 = h0 + 5;
    let mut c = g0 >> 44;
    g0 &= MASK44;
    let mut g1 = h1 + c;
    c = g1 >> 44;
    g1 &= MASK44;
    let mut g2 = (h2 + c).wrapping_sub(1 << 42);
    // All ones when h + 5 - 2^130 did not go negative, i.e. when h >= p.
    let take_g = (g2 >> 63).wrapping_sub(1);
    g0 &= take_g;
    g1 &= take_g;
    g2 &= take_g;
    h0 = (h0 & !take_g) | g0;
    h1 = (h1 & !take_g) | g1;
    h2 = (h2 & !take_g) | g2;

    // tag = (h + s) mod 2^128
    let s0 = le64(&key[16..24]);
    let s1 = le64(&key[24..32]);
    h0 += s0 & MASK44;
    c = h0 >> 44;
    h0 &= MASK44;
    h1 += (((s0 >> 44) | (s1 << 20)) & MASK44) + c;
    c = h1 >> 44;
    h1 &= MASK44;
    h2 += ((s1 >> 24) & MASK42) + c;
    h2 &= MASK42;

    let lo = h0 | (h1 << 44);
    let hi = (h1 >> 20) | (h2 << 24);
    let mut tag = [0u8; 16];
    tag[..8].copy_from_slice(&lo.to_le_bytes());
    tag[8..].copy_from_slice(&hi.to_le_bytes());
    tag
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_box::aead::{generic_array::GenericArray, AeadInPlace};
    use crypto_box::SalsaBox;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// NaCl's and libsodium's `crypto_box` known answer (libsodium `test/default/box.c`
    /// and `box.exp`): `c[16..]` is the 16-byte tag, then the ciphertext.
    #[test]
    fn nacl_crypto_box_vector() {
        let alice_sk: [u8; 32] =
            hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
                .try_into()
                .unwrap();
        let bob_pk: [u8; 32] =
            hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
                .try_into()
                .unwrap();
        let nonce = hex("69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37");
        let message = hex(
            "be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffc\
             e5ecbaaf33bd751a1ac728d45e6c61296cdc3c01233561f41db66cce314adb31\
             0e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a024a838f21af1fde\
             048977eb48f59ffd4924ca1c60902e52f0a089bc76897040e082f93776384864\
             5e0705",
        );
        let expected = hex(
            "f3ffc7703f9400e52a7dfb4b3d3305d98e993b9f48681273c29650ba32fc76ce\
             48332ea7164d96a4476fb8c531a1186ac0dfc17c98dce87b4da7f011ec48c972\
             71d2c20f9b928fe2270d6fb863d51738b48eeee314a7cc8ab932164548e526ae\
             90224368517acfeabd6bb3732bc0e9da99832b61ca01b6de56244a9e88d5f9b3\
             7973f622a43d14a6599b1f654cb45a74e355a5",
        );
        assert_eq!(message.len(), 131);
        let prefix: [u8; 16] = nonce[..16].try_into().unwrap();
        let short = u64::from_be_bytes(nonce[16..].try_into().unwrap());
        let key = MessageKey::new(
            &PublicKey::from(bob_pk),
            &SecretKey::from(alice_sk),
            &prefix,
        )
        .unwrap();
        for own in [true, false] {
            let mut data = message.clone();
            let tag = if own {
                key.seal_in_place_own(short, &mut data)
            } else {
                key.seal_in_place(short, &mut data)
            };
            assert_eq!(
                tag.to_vec(),
                expected[..16].to_vec(),
                "tag (own path: {own})"
            );
            assert_eq!(
                data,
                expected[16..].to_vec(),
                "ciphertext (own path: {own})"
            );
        }
        // The vector gives Alice's secret and Bob's public key only; the box key is
        // symmetric, so the same key opens it.
        let mut data = expected[16..].to_vec();
        assert!(key.open_in_place_own(short, &expected[..16], &mut data));
        assert_eq!(data, message);
    }

    /// Project Wycheproof's X25519 vectors (`tests/data/wycheproof_x25519.txt`, an extract
    /// of `x25519_test.json`): every shared secret is computed as given, twist points and
    /// non-canonical public keys included, except the all-zero ones (the low-order public
    /// keys), which are refused as libsodium refuses them; `beforenm` agrees.
    #[test]
    fn wycheproof_x25519() {
        let data = include_str!("../../../tests/data/wycheproof_x25519.txt");
        let (mut computed, mut refused) = (0, 0);
        for line in data.lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(f.len(), 6, "{line}");
            let (id, result, flags) = (f[0], f[1], f[2]);
            let key = |s: &str| -> [u8; 32] { hex(s).try_into().unwrap() };
            let (public, private, shared) = (key(f[3]), key(f[4]), key(f[5]));
            assert!(
                result == "valid" || result == "acceptable",
                "tcId {id}: {result}"
            );
            let got = x25519(&private, &public);
            let before = beforenm(&PublicKey::from(public), &SecretKey::from(private));
            if shared == [0u8; 32] {
                assert!(flags.contains("ZeroSharedSecret"), "tcId {id}: {flags}");
                assert_eq!(
                    got, None,
                    "tcId {id} ({flags}): a zero shared secret accepted"
                );
                assert_eq!(before, None, "tcId {id}: beforenm accepted it");
                refused += 1;
            } else {
                assert_eq!(got, Some(shared), "tcId {id} ({flags})");
                let expected: [u8; 32] = salsa20::hsalsa::<salsa20::cipher::consts::U10>(
                    (&shared).into(),
                    &Default::default(),
                )
                .into();
                assert_eq!(before, Some(expected), "tcId {id}: beforenm");
                computed += 1;
            }
        }
        assert_eq!((computed, refused), (487, 31));
    }

    #[test]
    fn the_differential_check_agrees_on_fixed_inputs() {
        for len in [0usize, 1, 31, 32, 33, 64, 255, 256, 257, 1000] {
            let body: Vec<u8> = (0..len).map(|i| (i * 13 + 5) as u8).collect();
            differential([3; 32], [9; 32], len % 2 == 0, len as u64 * 7919, &body);
        }
    }

    #[test]
    fn rfc8439_poly1305_vector() {
        // RFC 8439 §2.5.2.
        let key: [u8; 32] = hex("85:d6:be:78:57:55:6d:33:7f:44:52:fe:42:d5:06:a8:01:03:80:8a:fb:0d:b2:fd:4a:bf:f6:af:41:49:f5:1b")
            .try_into()
            .unwrap();
        let tag = poly1305_tag(&key, b"Cryptographic Forum Research Group");
        assert_eq!(
            tag.to_vec(),
            hex("a8:06:1d:c1:30:51:36:c6:c2:2b:8b:af:0c:01:27:a9")
        );
    }

    #[test]
    fn rfc8439_appendix_vectors() {
        // RFC 8439 A.3 #1 (all zero) and the edge cases #9..#11 that exercise the final
        // reduction (h just above p, and wrap-around of the 130-bit accumulator).
        let zero = [0u8; 32];
        assert_eq!(poly1305_tag(&zero, &[0u8; 64]), [0u8; 16]);
        let check = |key: &[u8; 32], msg: &[u8], tag: &[u8]| {
            assert_eq!(poly1305_tag(key, msg).to_vec(), tag, "ours");
            assert_eq!(reference_tag(key, msg).to_vec(), tag, "poly1305 crate");
        };

        let mut key = [0u8; 32];
        key[0] = 2;
        check(&key, &[0xff; 16], &hex("03000000000000000000000000000000"));

        let mut key = [0u8; 32];
        key[16..].fill(0xff);
        key[0] = 2;
        let mut msg = [0u8; 16];
        msg[0] = 2;
        check(&key, &msg, &hex("03000000000000000000000000000000"));

        let mut key = [0u8; 32];
        key[0] = 1;
        let msg = hex(
            "ffffffffffffffffffffffffffffffff f0ffffffffffffffffffffffffffffff
             11000000000000000000000000000000",
        );
        check(&key, &msg, &hex("05000000000000000000000000000000"));

        let mut key = [0u8; 32];
        key[0] = 1;
        let msg = hex(
            "ffffffffffffffffffffffffffffffff fbfefefefefefefefefefefefefefefe
             01010101010101010101010101010101",
        );
        check(&key, &msg, &[0u8; 16]);

        let mut key = [0u8; 32];
        key[0] = 2;
        let msg = hex("fdffffffffffffffffffffffffffffff");
        check(&key, &msg, &hex("faffffffffffffffffffffffffffffff"));
    }

    fn reference_tag(key: &[u8; 32], msg: &[u8]) -> [u8; 16] {
        use poly1305::universal_hash::KeyInit;
        poly1305::Poly1305::new(key.into())
            .compute_unpadded(msg)
            .into()
    }

    fn reference_stream(key: &[u8; 32], nonce: u64, len: usize) -> Vec<u8> {
        use salsa20::cipher::{KeyIvInit, StreamCipher};
        let mut s = salsa20::Salsa20::new(key.into(), (&nonce.to_be_bytes()).into());
        let mut out = vec![0u8; len];
        s.apply_keystream(&mut out);
        out
    }

    #[test]
    fn salsa_blocks_match_the_crate() {
        let key: [u8; 32] = std::array::from_fn(|i| (i * 7 + 3) as u8);
        for nonce in [0u64, 1, 0x0102_0304_0506_0708, u64::MAX] {
            let expected = reference_stream(&key, nonce, 64 * 9);
            let input = salsa_input(&key, nonce);
            let mut four = [[0u8; 64]; 4];
            salsa_blocks4(&input, 1, &mut four);
            assert_eq!(four.concat(), expected[64..5 * 64].to_vec());
            let mut one = [0u8; 64];
            for b in [0usize, 5, 8] {
                salsa_block(&input, b as u64, &mut one);
                assert_eq!(one.to_vec(), expected[b * 64..(b + 1) * 64].to_vec());
            }
        }
        // The block counter carries into its high word.
        let input = salsa_input(&key, 9);
        let mut four = [[0u8; 64]; 4];
        salsa_blocks4(&input, u32::MAX as u64 - 1, &mut four);
        let mut one = [0u8; 64];
        salsa_block(&input, u32::MAX as u64 + 1, &mut one);
        assert_eq!(four[2], one);
    }

    proptest! {
        #[test]
        fn poly1305_matches_the_crate(key in any::<[u8; 32]>(), msg in proptest::collection::vec(any::<u8>(), 0..600)) {
            prop_assert_eq!(poly1305_tag(&key, &msg), reference_tag(&key, &msg));
        }

        #[test]
        fn poly1305_extreme_limbs(fill in prop_oneof![Just(0xffu8), Just(0xfe), Just(0x00), Just(0x01)], len in 0usize..200, kfill in prop_oneof![Just(0xffu8), Just(0x00), Just(0x55)]) {
            let key = [kfill; 32];
            let msg = vec![fill; len];
            prop_assert_eq!(poly1305_tag(&key, &msg), reference_tag(&key, &msg));
        }

        #[test]
        fn boxes_match_crypto_box(
            a in any::<[u8; 32]>(),
            b in any::<[u8; 32]>(),
            server in any::<bool>(),
            nonce in any::<u64>(),
            body in proptest::collection::vec(any::<u8>(), 0..1200),
        ) {
            let (sa, sb) = (SecretKey::from(a), SecretKey::from(b));
            let prefix: &[u8; 16] = if server { b"CurveZMQMESSAGES" } else { b"CurveZMQMESSAGEC" };
            let key = MessageKey::new(&sb.public_key(), &sa, prefix).unwrap();
            let mut data = body.clone();
            let tag = key.seal_in_place(nonce, &mut data);

            let reference = SalsaBox::new(&sb.public_key(), &sa);
            let mut n = [0u8; 24];
            n[..16].copy_from_slice(prefix);
            n[16..].copy_from_slice(&nonce.to_be_bytes());
            let mut expected = body.clone();
            let expected_tag = reference
                .encrypt_in_place_detached(GenericArray::from_slice(&n), b"", &mut expected)
                .unwrap();
            prop_assert_eq!(&data, &expected);
            prop_assert_eq!(&tag[..], &expected_tag[..]);

            // The other side opens it; a flipped bit anywhere is refused and leaves the data.
            let other = MessageKey::new(&sa.public_key(), &sb, prefix).unwrap();
            let mut opened = data.clone();
            prop_assert!(other.open_in_place(nonce, &tag, &mut opened));
            prop_assert_eq!(&opened, &body);
            if !data.is_empty() {
                let mut forged = data.clone();
                let i = (nonce as usize) % forged.len();
                forged[i] ^= 1;
                let before = forged.clone();
                prop_assert!(!other.open_in_place(nonce, &tag, &mut forged));
                prop_assert_eq!(forged, before);
            }
            let mut bad_tag = tag;
            bad_tag[0] ^= 0x80;
            let mut copy = data.clone();
            prop_assert!(!other.open_in_place(nonce, &bad_tag, &mut copy));
            prop_assert!(!other.open_in_place(nonce.wrapping_add(1), &tag, &mut copy));
        }
    }
}
