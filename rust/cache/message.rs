// SPDX-License-Identifier: GPL-2.0

//! `dmsetup message` commands.

use core::ffi::CStr;

use super::table::{check_watermarks, parse_pct, parse_u64, Mode};

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
    /// A number that is not one, or out of range.
    Value,
    /// Watermarks out of order.
    WatermarkOrder,
    /// Unknown mode.
    BadMode,
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
            Self::Value => c"invalid number",
            Self::WatermarkOrder => c"low watermark above high watermark",
            Self::BadMode => c"mode must be writeback or writethrough",
        }
    }
}

/// Parses a message.
pub fn parse(args: &[&str]) -> Result<Message, MessageError> {
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
            parse_u64(rest[0])
                .map(Message::CacheSize)
                .ok_or(MessageError::Value)
        }
        "mode" => {
            want(1)?;
            Mode::parse(rest[0])
                .map(Message::Mode)
                .ok_or(MessageError::BadMode)
        }
        "watermarks" => {
            want(2)?;
            let h = parse_pct(rest[0]).ok_or(MessageError::Value)?;
            let l = parse_pct(rest[1]).ok_or(MessageError::Value)?;
            check_watermarks(h, l).map_err(|_| MessageError::WatermarkOrder)?;
            Ok(Message::Watermarks(h, l))
        }
        _ => Err(MessageError::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Message, MessageError> {
        let v: Vec<&str> = s.split_whitespace().collect();
        parse(&v)
    }

    #[test]
    fn good() {
        assert_eq!(p("flush"), Ok(Message::Flush));
        assert_eq!(p("invalidate"), Ok(Message::Invalidate));
        assert_eq!(p("clear_stats"), Ok(Message::ClearStats));
        assert_eq!(p("cache_size 1048576"), Ok(Message::CacheSize(1 << 20)));
        assert_eq!(
            p("mode writethrough"),
            Ok(Message::Mode(Mode::Writethrough))
        );
        assert_eq!(p("mode writeback"), Ok(Message::Mode(Mode::Writeback)));
        assert_eq!(p("watermarks 80 20"), Ok(Message::Watermarks(80, 20)));
        assert_eq!(p("cgroup_stats"), Ok(Message::CgroupStats));
        assert_eq!(
            p("test_hold_cgroup_mutex 500"),
            Ok(Message::TestHoldCgroupMutex(500))
        );
    }

    #[test]
    fn bad() {
        use MessageError::*;
        for (s, e) in [
            ("", Empty),
            ("frobnicate", Unknown),
            ("flush now", Args),
            ("invalidate all", Args),
            ("cache_size", Args),
            ("cache_size 1M", Value),
            ("cache_size 1 2", Args),
            ("mode", Args),
            ("mode fast", BadMode),
            ("watermarks 50", Args),
            ("watermarks 101 10", Value),
            ("watermarks 10 50", WatermarkOrder),
            ("watermarks x y", Value),
            ("clear_stats 1", Args),
            ("cgroup_stats all", Args),
            ("test_hold_cgroup_mutex", Args),
            ("test_hold_cgroup_mutex 60001", Value),
        ] {
            assert_eq!(p(s), Err(e), "{s:?}");
        }
    }
}
