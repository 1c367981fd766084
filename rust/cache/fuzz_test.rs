// SPDX-License-Identifier: GPL-2.0

//! Random testing of the table-line and message parsers (host only): many
//! thousands of token sequences built from valid words, near-valid words,
//! numbers at and around every bound, and junk. Every one must either be
//! accepted or refused with an error that has a message, never panic; an
//! accepted table line must format and parse back to the same table, and
//! its values must be within the documented bounds.

use super::message;
use super::table::{self, Opt, Table};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Words besides the options' names and keywords (`option_word`).
const WORDS: &[&str] = &[
    "cache_size",
    "writeback",
    "writethrough",
    "flush",
    "invalidate",
    "mode",
    "watermarks",
    "clear_stats",
    "cgroup_stats",
    "test_hold_cgroup_mutex",
    "0",
    "1",
    "2",
    "4",
    "11",
    "16",
    "50",
    "100",
    "101",
    "255",
    "256",
    "257",
    "511",
    "512",
    "4096",
    "65536",
    "131072",
    "65535",
    "1048576",
    "16777216",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "-1",
    "+1",
    "0x10",
    "1e3",
    "1M",
    "",
    " ",
    "7:0",
    "/dev/loop0",
    "bufcache",
    "WRITEBACK",
    "cache_size=1",
    "\u{e9}",
    "\0",
];

/// A name or keyword of an option of the option table.
fn option_word(r: &mut Rng) -> String {
    let o = Opt::ALL[r.below(Opt::COUNT)];
    if o.takes_value() {
        o.name().to_string()
    } else {
        let k: Vec<&str> = o.syntax().split(" | ").collect();
        k[r.below(k.len())].to_string()
    }
}

fn token(r: &mut Rng) -> String {
    match r.below(12) {
        3 | 4 => option_word(r),
        0 => r.next().to_string(),
        1 => (r.next() % 300).to_string(),
        2 => {
            // Random bytes as (lossy) text.
            let n = r.below(6);
            let b: Vec<u8> = (0..n).map(|_| r.next() as u8).collect();
            String::from_utf8_lossy(&b).into_owned()
        }
        _ => WORDS[r.below(WORDS.len())].to_string(),
    }
}

fn check_table(t: &Table<'_>) {
    assert!(t.block_size.is_power_of_two() && (512..=65536).contains(&t.block_size));
    assert!(t.opts.high_watermark <= 100 && t.opts.low_watermark <= t.opts.high_watermark);
    assert!(t.opts.readahead <= 256);
    if let Some(c) = t.opts.given_cache_size() {
        assert!(c >= 16 * u64::from(t.block_size));
    }
    // The kernel prints the origin as DM names it ("major:minor").
    let mut s = String::new();
    table::format(&mut s, "7:0", t.block_size, &t.opts).unwrap();
    let v: Vec<&str> = s.split_whitespace().collect();
    let t2 = table::parse(&v).unwrap_or_else(|e| panic!("{s}: {:?}", e));
    assert_eq!(
        (t.block_size, t.opts),
        (t2.block_size, t2.opts),
        "round trip of {s}"
    );
}

#[test]
fn table_lines_never_panic_and_round_trip() {
    let mut r = Rng(0x5eed_7ab1e);
    let (mut ok, mut refused) = (0u32, 0u32);
    for _ in 0..200_000 {
        let mut toks: Vec<String> = Vec::new();
        // Mostly well-formed heads, so the option parser is reached.
        if r.below(4) != 0 {
            toks.push("7:0".into());
            toks.push(["512", "4096", "65536", "3000", "0"][r.below(5)].into());
            let n = r.below(9);
            let count = if r.below(5) == 0 { r.below(12) } else { n };
            toks.push(count.to_string());
            for _ in 0..n {
                toks.push(token(&mut r));
            }
        } else {
            for _ in 0..r.below(8) {
                toks.push(token(&mut r));
            }
        }
        let v: Vec<&str> = toks.iter().map(String::as_str).collect();
        match table::parse(&v) {
            Ok(t) => {
                check_table(&t);
                ok += 1;
            }
            Err(e) => {
                assert!(!e.msg().to_bytes().is_empty());
                refused += 1;
            }
        }
    }
    // The generator reaches both outcomes often.
    assert!(ok > 1_000 && refused > 1_000, "ok {ok}, refused {refused}");
}

#[test]
fn messages_never_panic() {
    let mut r = Rng(0x3e55_a9e5);
    let (mut ok, mut refused) = (0u32, 0u32);
    for _ in 0..200_000 {
        let n = 1 + r.below(4);
        let toks: Vec<String> = (0..n).map(|_| token(&mut r)).collect();
        let v: Vec<&str> = toks.iter().map(String::as_str).collect();
        let bs = 512 << r.below(8);
        match message::parse(&v, bs) {
            Ok(_) => ok += 1,
            Err(e) => {
                assert!(!e.msg().to_bytes().is_empty());
                refused += 1;
            }
        }
    }
    assert!(ok > 1_000 && refused > 1_000, "ok {ok}, refused {refused}");
}
