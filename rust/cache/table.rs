// SPDX-License-Identifier: GPL-2.0

//! The table line: parsing, validation and formatting.
//!
//! ```text
//! bufcache <origin> <block_size>
//! ```
//!
//! Errors carry a static, user-facing message: DM prints it in the kernel log
//! ("device-mapper: table: 253:0: bufcache: <message>") and it is all a user
//! sees of why `dmsetup create` failed.

use core::ffi::CStr;
use core::fmt;

/// Smallest block size the target accepts, in bytes.
pub const MIN_BLOCK_SIZE: u32 = 512;
/// Largest block size the target accepts, in bytes.
pub const MAX_BLOCK_SIZE: u32 = 64 * 1024;

/// Why a table line was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableError {
    /// Fewer than the two required arguments.
    MissingArgs,
    /// Arguments after `<block_size>`.
    ExtraArgs,
    /// `<block_size>` is not a decimal number.
    BlockSizeNotNumber,
    /// `<block_size>` is not a power of two in 512..=65536.
    BlockSizeRange,
    /// `<block_size>` is smaller than the origin's logical block size.
    BlockSizeBelowOrigin,
}

impl TableError {
    /// The message for `ti->error`.
    pub fn msg(self) -> &'static CStr {
        match self {
            Self::MissingArgs => c"Not enough arguments: expected <origin> <block_size>",
            Self::ExtraArgs => c"Too many arguments: expected <origin> <block_size>",
            Self::BlockSizeNotNumber => c"Invalid block size: not a decimal number",
            Self::BlockSizeRange => {
                c"Invalid block size: must be a power of two from 512 to 65536 bytes"
            }
            Self::BlockSizeBelowOrigin => {
                c"Invalid block size: smaller than the origin's logical block size"
            }
        }
    }
}

/// A parsed table line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table<'a> {
    /// The origin device as given (a path or "major:minor").
    pub origin: &'a str,
    /// The cache block size in bytes.
    pub block_size: u32,
}

/// Parses a decimal `u64` with no sign, no spaces and no leading `+`.
pub fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Checks a block size on its own (the origin check comes later, once the
/// origin is open).
pub fn check_block_size(bs: u64) -> Result<u32, TableError> {
    if !(u64::from(MIN_BLOCK_SIZE)..=u64::from(MAX_BLOCK_SIZE)).contains(&bs)
        || !bs.is_power_of_two()
    {
        return Err(TableError::BlockSizeRange);
    }
    // The range check above makes the conversion lossless.
    Ok(bs as u32)
}

/// Checks the block size against the origin's logical block size.
pub fn check_block_size_vs_origin(bs: u32, origin_lbs: u32) -> Result<(), TableError> {
    if bs < origin_lbs {
        return Err(TableError::BlockSizeBelowOrigin);
    }
    Ok(())
}

/// Parses the arguments after the target name.
pub fn parse<'a>(args: &[&'a str]) -> Result<Table<'a>, TableError> {
    let (origin, bs) = match args {
        [] | [_] => return Err(TableError::MissingArgs),
        [origin, bs] => (*origin, *bs),
        _ => return Err(TableError::ExtraArgs),
    };
    let bs = parse_u64(bs).ok_or(TableError::BlockSizeNotNumber)?;
    Ok(Table {
        origin,
        block_size: check_block_size(bs)?,
    })
}

/// Writes the table line (without the target name) as `dmsetup table`
/// shows it; it reloads to the same configuration. `origin_name` is the
/// name DM knows the device by ("major:minor").
pub fn format(w: &mut impl fmt::Write, origin_name: &str, block_size: u32) -> fmt::Result {
    write!(w, "{} {}", origin_name, block_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_lines() {
        let t = parse(&["/dev/loop0", "4096"]).unwrap();
        assert_eq!(t.origin, "/dev/loop0");
        assert_eq!(t.block_size, 4096);
        for bs in [512u32, 1024, 2048, 4096, 8192, 16384, 32768, 65536] {
            let s = bs.to_string();
            assert_eq!(parse(&["7:0", &s]).unwrap().block_size, bs);
        }
    }

    #[test]
    fn bad_lines() {
        assert_eq!(parse(&[]), Err(TableError::MissingArgs));
        assert_eq!(parse(&["/dev/loop0"]), Err(TableError::MissingArgs));
        assert_eq!(
            parse(&["/dev/loop0", "4096", "x"]),
            Err(TableError::ExtraArgs)
        );
        for bad in ["", "abc", "-4096", "+4096", "4096 ", "0x1000", "4k"] {
            assert_eq!(
                parse(&["/dev/loop0", bad]),
                Err(TableError::BlockSizeNotNumber),
                "{bad:?}"
            );
        }
        for bad in [
            "0",
            "1",
            "256",
            "3000",
            "4095",
            "131072",
            "1048576",
            "99999999999999999999",
        ] {
            let e = parse(&["/dev/loop0", bad]).unwrap_err();
            assert!(
                e == TableError::BlockSizeRange || e == TableError::BlockSizeNotNumber,
                "{bad:?}: {e:?}"
            );
        }
        assert_eq!(
            parse(&["/dev/loop0", "1048576"]),
            Err(TableError::BlockSizeRange)
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
        let all = [
            TableError::MissingArgs,
            TableError::ExtraArgs,
            TableError::BlockSizeNotNumber,
            TableError::BlockSizeRange,
            TableError::BlockSizeBelowOrigin,
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
        let mut s = String::new();
        format(&mut s, "7:0", 4096).unwrap();
        let words: Vec<&str> = s.split(' ').collect();
        let t = parse(&words).unwrap();
        assert_eq!((t.origin, t.block_size), ("7:0", 4096));
    }
}
