// SPDX-License-Identifier: GPL-2.0

//! Tests of the table line parser and formatter (`table`).

use super::table::*;

fn p(s: &str) -> Result<Table<'_>, TableError> {
    let v: Vec<&str> = s.split_whitespace().collect();
    parse(&v)
}

#[test]
fn good_lines() {
    let t = p("/dev/loop0 4096").unwrap();
    assert_eq!(t.origin, "/dev/loop0");
    assert_eq!(t.block_size, 4096);
    assert_eq!(t.opts, Options::default());
    for bs in [512u32, 1024, 2048, 4096, 8192, 16384, 32768, 65536] {
        assert_eq!(p(&format!("7:0 {bs}")).unwrap().block_size, bs);
    }
    let t = p("7:0 4096 0").unwrap();
    assert_eq!(t.opts, Options::default());
    let t = p(
        "7:0 4096 11 cache_size 1048576 writethrough high_watermark 60 \
               low_watermark 10 max_age_ms 100 readahead 0",
    )
    .unwrap();
    assert_eq!(t.opts.given_cache_size(), Some(1 << 20));
    assert_eq!(t.opts.mode, Mode::Writethrough);
    assert_eq!((t.opts.high_watermark, t.opts.low_watermark), (60, 10));
    assert_eq!(t.opts.max_age_ms, 100);
    assert_eq!(t.opts.readahead, 0);
    assert_eq!(t.opts.sequential_cutoff, 4 << 20);
    let t = p("7:0 4096 2 sequential_cutoff 0").unwrap();
    assert_eq!(
        (t.opts.sequential_cutoff, t.opts.given.sequential_cutoff),
        (0, true)
    );
}

#[test]
fn bad_lines() {
    use TableError::*;
    let cases = [
        ("", MissingArgs),
        ("/dev/loop0", MissingArgs),
        ("/dev/loop0 4096 x", OptCount),
        ("/dev/loop0 4096 1", OptCount),
        ("/dev/loop0 4096 0 x", ExtraArgs),
        ("/dev/loop0 4096 1 writeback extra", ExtraArgs),
        ("/dev/loop0 4096 1 bogus", UnknownOpt),
        ("/dev/loop0 4096 2 writeback writethrough", DuplicateOpt),
        ("/dev/loop0 4096 1 cache_size", MissingValue),
        ("/dev/loop0 4096 2 cache_size 4096", Invalid(Opt::CacheSize)),
        ("/dev/loop0 4096 2 cache_size 1M", Invalid(Opt::CacheSize)),
        (
            "/dev/loop0 4096 4 cache_size 1048576 cache_size 1048576",
            DuplicateOpt,
        ),
        (
            "/dev/loop0 4096 2 high_watermark 101",
            Invalid(Opt::HighWatermark),
        ),
        (
            "/dev/loop0 4096 2 low_watermark -1",
            Invalid(Opt::LowWatermark),
        ),
        (
            "/dev/loop0 4096 4 high_watermark 10 low_watermark 20",
            WatermarkOrder,
        ),
        ("/dev/loop0 4096 2 low_watermark 60", WatermarkOrder),
        ("/dev/loop0 4096 2 max_age_ms soon", Invalid(Opt::MaxAgeMs)),
        ("/dev/loop0 4096 2 readahead 257", Invalid(Opt::Readahead)),
        ("/dev/loop0 4096 2 readahead x", Invalid(Opt::Readahead)),
        (
            "/dev/loop0 4096 2 sequential_cutoff 4M",
            Invalid(Opt::SequentialCutoff),
        ),
        (
            "/dev/loop0 4096 2 sequential_cutoff -1",
            Invalid(Opt::SequentialCutoff),
        ),
        (
            "/dev/loop0 4096 4 sequential_cutoff 0 sequential_cutoff 1",
            DuplicateOpt,
        ),
        ("/dev/loop0 4096 1 sequential_cutoff", MissingValue),
        ("/dev/loop0 abc", BlockSizeNotNumber),
        ("/dev/loop0 4k", BlockSizeNotNumber),
        ("/dev/loop0 -4096", BlockSizeNotNumber),
        ("/dev/loop0 0x1000", BlockSizeNotNumber),
        ("/dev/loop0 0", BlockSizeRange),
        ("/dev/loop0 256", BlockSizeRange),
        ("/dev/loop0 3000", BlockSizeRange),
        ("/dev/loop0 131072", BlockSizeRange),
        ("/dev/loop0 1048576", BlockSizeRange),
    ];
    for (line, want) in cases {
        assert_eq!(p(line), Err(want), "{line:?}");
    }
    assert_eq!(
        parse(&["/dev/loop0", "99999999999999999999"]),
        Err(BlockSizeNotNumber)
    );
}

#[test]
fn origin_lbs() {
    assert_eq!(check_block_size_vs_origin(4096, 512), Ok(()));
    assert_eq!(check_block_size_vs_origin(4096, 4096), Ok(()));
    assert_eq!(
        check_block_size_vs_origin(512, 4096),
        Err(TableError::BlockSizeBelowOrigin)
    );
}

#[test]
fn messages_are_distinct_and_nonempty() {
    use TableError::*;
    let general = [
        MissingArgs,
        ExtraArgs,
        BlockSizeNotNumber,
        BlockSizeRange,
        BlockSizeBelowOrigin,
        OptCount,
        UnknownOpt,
        DuplicateOpt,
        MissingValue,
        WatermarkOrder,
    ];
    for (i, a) in general.iter().enumerate() {
        assert!(!a.msg().to_bytes().is_empty());
        for b in &general[i + 1..] {
            assert_ne!(a.msg(), b.msg());
        }
    }
    // An option's refusal is its own (the two watermarks share theirs).
    for o in Opt::ALL {
        let Some(m) = o.error() else { continue };
        assert_eq!(Invalid(o).msg(), m);
        assert!(!m.to_bytes().is_empty());
        assert!(general.iter().all(|g| g.msg() != m), "{o:?}");
        for p in Opt::ALL {
            if p != o && p.error() == Some(m) {
                assert!(o.message() == Some("watermarks") && p.message() == o.message());
            }
        }
    }
}

/// The refusals of the options' values, word for word as the target gave
/// them before the option table (the documentation's Errors table lists
/// them; `errors_test.rs` checks it against the code).
#[test]
fn option_refusals_keep_their_text() {
    for (line, want) in [
        (
            "7:0 4096 2 cache_size 4096",
            "Invalid cache_size: must be a byte count of at least 16 blocks",
        ),
        (
            "7:0 4096 2 cache_size x",
            "Invalid cache_size: must be a byte count of at least 16 blocks",
        ),
        (
            "7:0 4096 2 high_watermark 101",
            "Invalid watermark: must be a percentage from 0 to 100",
        ),
        (
            "7:0 4096 2 low_watermark x",
            "Invalid watermark: must be a percentage from 0 to 100",
        ),
        (
            "7:0 4096 2 low_watermark 60",
            "Invalid watermarks: low_watermark is above high_watermark",
        ),
        (
            "7:0 4096 2 max_age_ms soon",
            "Invalid max_age_ms: not a decimal number",
        ),
        (
            "7:0 4096 2 readahead 257",
            "Invalid readahead: must be a block count from 0 to 256",
        ),
        (
            "7:0 4096 2 sequential_cutoff 4M",
            "Invalid sequential_cutoff: must be a byte count (0: never bypass)",
        ),
        ("7:0 4096 1 fast", "Unknown optional argument"),
        ("7:0 4096 1 mode", "Unknown optional argument"),
        (
            "7:0 4096 2 writethrough writethrough",
            "Optional argument given twice",
        ),
        (
            "7:0 4096 3 max_age_ms 1 max_age_ms",
            "Optional argument given twice",
        ),
        (
            "7:0 4096 1 max_age_ms",
            "Optional argument is missing its value",
        ),
    ] {
        let e = p(line).expect_err(line);
        assert_eq!(e.msg().to_str().unwrap(), want, "{line:?}");
    }
}

#[test]
fn table_round_trip() {
    for line in [
        "7:0 4096",
        "7:0 512 1 writethrough",
        "7:0 65536 2 cache_size 16777216",
        "7:0 4096 11 cache_size 1048576 writeback high_watermark 90 low_watermark 0 \
         max_age_ms 0 readahead 256",
        "7:0 4096 4 max_age_ms 10 readahead 3",
        "7:0 4096 2 sequential_cutoff 0",
        "7:0 4096 4 readahead 15 sequential_cutoff 1048576",
    ] {
        let t = p(line).unwrap();
        let mut s = String::new();
        format(&mut s, t.origin, t.block_size, &t.opts).unwrap();
        let t2 = p(&s).unwrap();
        assert_eq!(t, t2, "{line} -> {s}");
        let mut s2 = String::new();
        format(&mut s2, t2.origin, t2.block_size, &t2.opts).unwrap();
        assert_eq!(s, s2);
    }
}
