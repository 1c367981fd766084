// SPDX-License-Identifier: GPL-2.0

//! `dmsetup message` commands.
//!
//! The messages that change an option (the option table's `message`, in
//! `table.rs`) parse its value with the option's own parser
//! ([`value`]): a value the table line refuses, the message refuses too,
//! with the same reason.

use core::ffi::CStr;

#[cfg(any(test, bufcache_test))]
use super::table::parse_u64;
use super::table::{check_watermarks, value, Mode, TableError};

/// A parsed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// Write back every dirty block and flush the origin.
    Flush,
    /// Drop every clean block (refused while dirty blocks remain).
    Invalidate,
    /// Change the per-target cap, in bytes.
    CacheSize(u64),
    /// Switch the mode (to writethrough: write back first).
    Mode(Mode),
    /// Set the high and low watermarks.
    Watermarks(u8, u8),
    /// Reset the hit/miss/writeback/... counters.
    ClearStats,
    /// Print per-cgroup occupancy, hit ratio and I/O.
    CgroupStats,
    /// Test only (needs the module's `test_cgroup_knobs`): hold the cgroup
    /// association mutex for this many milliseconds. Parsed in the test
    /// flavour of the module (and the host tests) only: the plain module
    /// does not know the message.
    #[cfg(any(test, bufcache_test))]
    TestHoldCgroupMutex(u64),
}

/// Why a message was refused. `msg()` is logged for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageError {
    /// No words.
    Empty,
    /// Not a known message.
    Unknown,
    /// Wrong number of arguments.
    Args,
    /// A number that is not one, or out of range (the test message's).
    #[cfg(any(test, bufcache_test))]
    Value,
    /// Unknown mode (the option table's keywords cannot be refused: a word
    /// that is none of them is an unknown option of the table line).
    BadMode,
    /// A value the option table refuses, with the table's reason: the
    /// option's `error`, or the watermarks' order.
    Table(TableError),
}

impl From<TableError> for MessageError {
    fn from(e: TableError) -> Self {
        Self::Table(e)
    }
}

impl MessageError {
    /// A message for the kernel log.
    pub fn msg(self) -> &'static CStr {
        match self {
            Self::Empty => c"empty message",
            Self::Unknown => {
                c"unknown message (flush, invalidate, cache_size, mode, watermarks, clear_stats, cgroup_stats)"
            }
            Self::Args => c"wrong number of arguments for this message",
            #[cfg(any(test, bufcache_test))]
            Self::Value => c"invalid number",
            Self::BadMode => c"mode must be writeback or writethrough",
            Self::Table(e) => e.msg(),
        }
    }
}

/// Parses a message to a target of block size `bs` (`cache_size`'s
/// parser needs it).
pub fn parse(args: &[&str], bs: u32) -> Result<Message, MessageError> {
    let (&cmd, rest) = args.split_first().ok_or(MessageError::Empty)?;
    let want = |n: usize| {
        if rest.len() == n {
            Ok(())
        } else {
            Err(MessageError::Args)
        }
    };
    match cmd {
        "flush" => want(0).map(|()| Message::Flush),
        "invalidate" => want(0).map(|()| Message::Invalidate),
        "clear_stats" => want(0).map(|()| Message::ClearStats),
        "cgroup_stats" => want(0).map(|()| Message::CgroupStats),
        #[cfg(any(test, bufcache_test))]
        "test_hold_cgroup_mutex" => {
            want(1)?;
            match parse_u64(rest[0]) {
                Some(ms) if ms <= 60_000 => Ok(Message::TestHoldCgroupMutex(ms)),
                _ => Err(MessageError::Value),
            }
        }
        "cache_size" => {
            want(1)?;
            Ok(Message::CacheSize(value::cache_size(rest[0], bs)?))
        }
        "mode" => {
            want(1)?;
            value::mode(rest[0], bs)
                .map(Message::Mode)
                .map_err(|_| MessageError::BadMode)
        }
        "watermarks" => {
            want(2)?;
            let h = value::high_watermark(rest[0], bs)?;
            let l = value::low_watermark(rest[1], bs)?;
            check_watermarks(h, l)?;
            Ok(Message::Watermarks(h, l))
        }
        _ => Err(MessageError::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::super::table::{self, Opt, Options};
    use super::*;

    const BS: u32 = 4096;

    fn p(s: &str) -> Result<Message, MessageError> {
        let v: Vec<&str> = s.split_whitespace().collect();
        parse(&v, BS)
    }

    #[test]
    fn good() {
        assert_eq!(p("flush"), Ok(Message::Flush));
        assert_eq!(p("invalidate"), Ok(Message::Invalidate));
        assert_eq!(p("clear_stats"), Ok(Message::ClearStats));
        assert_eq!(p("cache_size 1048576"), Ok(Message::CacheSize(1 << 20)));
        // The smallest: 16 blocks.
        assert_eq!(p("cache_size 65536"), Ok(Message::CacheSize(65536)));
        assert_eq!(
            p("mode writethrough"),
            Ok(Message::Mode(Mode::Writethrough))
        );
        assert_eq!(p("mode writeback"), Ok(Message::Mode(Mode::Writeback)));
        assert_eq!(p("watermarks 80 20"), Ok(Message::Watermarks(80, 20)));
        assert_eq!(p("watermarks 100 100"), Ok(Message::Watermarks(100, 100)));
        assert_eq!(p("cgroup_stats"), Ok(Message::CgroupStats));
        assert_eq!(
            p("test_hold_cgroup_mutex 500"),
            Ok(Message::TestHoldCgroupMutex(500))
        );
    }

    #[test]
    fn bad() {
        use MessageError::*;
        let size = Table(TableError::Invalid(Opt::CacheSize));
        let high = Table(TableError::Invalid(Opt::HighWatermark));
        let low = Table(TableError::Invalid(Opt::LowWatermark));
        for (s, e) in [
            ("", Empty),
            ("frobnicate", Unknown),
            ("flush now", Args),
            ("invalidate all", Args),
            ("cache_size", Args),
            ("cache_size 1M", size),
            ("cache_size 65535", size),
            ("cache_size 4096", size),
            ("cache_size -1", size),
            ("cache_size 18446744073709551616", size),
            ("cache_size 1 2", Args),
            ("mode", Args),
            ("mode fast", BadMode),
            ("mode Writeback", BadMode),
            ("watermarks 50", Args),
            ("watermarks 101 10", high),
            ("watermarks 10 101", low),
            ("watermarks 10 50", Table(TableError::WatermarkOrder)),
            ("watermarks x y", high),
            ("watermarks 50 y", low),
            ("clear_stats 1", Args),
            ("cgroup_stats all", Args),
            ("test_hold_cgroup_mutex", Args),
            ("test_hold_cgroup_mutex 60001", Value),
        ] {
            assert_eq!(p(s), Err(e), "{s:?}");
        }
        // The table's reasons, word for word.
        assert_eq!(
            p("cache_size 4096").unwrap_err().msg(),
            c"Invalid cache_size: must be a byte count of at least 16 blocks"
        );
        assert_eq!(
            p("watermarks 10 50").unwrap_err().msg(),
            c"Invalid watermarks: low_watermark is above high_watermark"
        );
    }

    /// `cache_size`'s least value follows the block size, as in the table
    /// line.
    #[test]
    fn cache_size_by_block_size() {
        for bs in [512u32, 4096, 65536] {
            let least = 16 * u64::from(bs);
            let ok = [least.to_string()];
            let low = [(least - 1).to_string()];
            assert_eq!(
                parse(&["cache_size", &ok[0]], bs),
                Ok(Message::CacheSize(least))
            );
            assert_eq!(
                parse(&["cache_size", &low[0]], bs),
                Err(MessageError::Table(TableError::Invalid(Opt::CacheSize)))
            );
        }
    }

    /// A value the table line refuses, the message that changes the option
    /// refuses too, with the same reason; a value the table line takes,
    /// the message takes, as the same value.
    #[test]
    fn values_as_the_table_line() {
        let words = [
            "0",
            "1",
            "15",
            "16",
            "25",
            "50",
            "99",
            "100",
            "101",
            "255",
            "256",
            "4096",
            "8191",
            "8192",
            "65535",
            "65536",
            "1048576",
            "4294967296",
            "18446744073709551615",
            "18446744073709551616",
            "-1",
            "+16",
            "007",
            "0x10",
            "1M",
            "4k",
            "x",
            "",
            "writeback",
            "writethrough",
            "fast",
        ];
        let mut checked = 0;
        for bs in [512u32, 4096, 65536] {
            let bs_word = bs.to_string();
            for o in Opt::ALL {
                let Some(m) = o.message() else { continue };
                for w in words {
                    // The option alone on the table line; the other
                    // watermark where it keeps the order.
                    let line: Vec<&str> = match o {
                        Opt::HighWatermark => {
                            vec![
                                "7:0",
                                &bs_word,
                                "4",
                                "high_watermark",
                                w,
                                "low_watermark",
                                "0",
                            ]
                        }
                        Opt::LowWatermark => {
                            vec![
                                "7:0",
                                &bs_word,
                                "4",
                                "high_watermark",
                                "100",
                                "low_watermark",
                                w,
                            ]
                        }
                        _ if o.takes_value() => vec!["7:0", &bs_word, "2", o.name(), w],
                        _ => vec!["7:0", &bs_word, "1", w],
                    };
                    let msg: Vec<&str> = match o {
                        Opt::HighWatermark => vec![m, w, "0"],
                        Opt::LowWatermark => vec![m, "100", w],
                        _ => vec![m, w],
                    };
                    let t = table::parse(&line).map(|t| t.opts);
                    let mm = parse(&msg, bs);
                    match (t, mm) {
                        (Ok(opts), Ok(mm)) => assert_eq!(mm, message_of(o, &opts), "{msg:?}"),
                        (Err(TableError::Invalid(p)), Err(e)) => {
                            assert_eq!(p, o, "{line:?}");
                            assert_eq!(e, MessageError::Table(TableError::Invalid(o)), "{msg:?}");
                            assert_eq!(e.msg(), TableError::Invalid(o).msg());
                        }
                        // A keyword option: a word that is none of its
                        // keywords is an unknown option of the table line.
                        (Err(TableError::UnknownOpt), Err(MessageError::BadMode))
                            if !o.takes_value() => {}
                        (t, mm) => panic!("{line:?}: {t:?}, but {msg:?}: {mm:?}"),
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked >= 3 * 4 * words.len());
    }

    /// The message that sets `o` to its value in `opts`.
    fn message_of(o: Opt, opts: &Options) -> Message {
        match o {
            Opt::CacheSize => Message::CacheSize(opts.cache_size),
            Opt::Mode => Message::Mode(opts.mode),
            Opt::HighWatermark | Opt::LowWatermark => {
                Message::Watermarks(opts.high_watermark, opts.low_watermark)
            }
            _ => panic!("{o:?} has no message"),
        }
    }
}
