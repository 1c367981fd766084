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
    assert_eq!(t.opts.cache_size, Some(1 << 20));
    assert_eq!(t.opts.mode, Mode::Writethrough);
    assert_eq!((t.opts.high_watermark, t.opts.low_watermark), (60, 10));
    assert_eq!(t.opts.max_age_ms, 100);
    assert_eq!(t.opts.readahead, 0);
    assert_eq!(t.opts.sequential_cutoff, DEFAULT_SEQUENTIAL_CUTOFF);
    let t = p("7:0 4096 2 sequential_cutoff 0").unwrap();
    assert_eq!((t.opts.sequential_cutoff, t.opts.cutoff_set), (0, true));
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
        ("/dev/loop0 4096 2 cache_size 4096", CacheSize),
        ("/dev/loop0 4096 2 cache_size 1M", CacheSize),
        (
            "/dev/loop0 4096 4 cache_size 1048576 cache_size 1048576",
            DuplicateOpt,
        ),
        ("/dev/loop0 4096 2 high_watermark 101", Watermark),
        ("/dev/loop0 4096 2 low_watermark -1", Watermark),
        (
            "/dev/loop0 4096 4 high_watermark 10 low_watermark 20",
            WatermarkOrder,
        ),
        ("/dev/loop0 4096 2 low_watermark 60", WatermarkOrder),
        ("/dev/loop0 4096 2 max_age_ms soon", MaxAge),
        ("/dev/loop0 4096 2 readahead 257", Readahead),
        ("/dev/loop0 4096 2 readahead x", Readahead),
        ("/dev/loop0 4096 2 sequential_cutoff 4M", SequentialCutoff),
        ("/dev/loop0 4096 2 sequential_cutoff -1", SequentialCutoff),
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
    let all = [
        MissingArgs,
        ExtraArgs,
        BlockSizeNotNumber,
        BlockSizeRange,
        BlockSizeBelowOrigin,
        OptCount,
        UnknownOpt,
        DuplicateOpt,
        MissingValue,
        CacheSize,
        Watermark,
        WatermarkOrder,
        MaxAge,
        Readahead,
    ];
    for (i, a) in all.iter().enumerate() {
        assert!(!a.msg().to_bytes().is_empty());
        for b in &all[i + 1..] {
            assert_ne!(a.msg(), b.msg());
        }
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
