// SPDX-License-Identifier: GPL-2.0

//! The table line: parsing, validation and formatting.
//!
//! ```text
//! bufcache <origin> <block_size> [<#opt_args> <opt>...]
//!
//! <opt>: cache_size <bytes> | writeback | writethrough |
//!        high_watermark <pct> | low_watermark <pct> |
//!        max_age_ms <ms> | readahead <blocks> |
//!        sequential_cutoff <bytes>
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
/// A cache must hold at least this many blocks.
pub const MIN_CACHE_BLOCKS: u64 = 16;
/// Largest readahead, in blocks.
pub const MAX_READAHEAD: u32 = 256;

/// Default dirty share (percent of the cap) that starts background
/// writeback.
pub const DEFAULT_HIGH_WATERMARK: u8 = 50;
/// Default dirty share at which background writeback stops.
pub const DEFAULT_LOW_WATERMARK: u8 = 25;
/// Default age after which dirty data is written back.
pub const DEFAULT_MAX_AGE_MS: u64 = 5000;
/// Default readahead on sequential misses, in blocks.
pub const DEFAULT_READAHEAD: u32 = 8;
/// Default length of a sequential read stream after which its uncached
/// blocks bypass the cache (bcache's `sequential_cutoff`).
pub const DEFAULT_SEQUENTIAL_CUTOFF: u64 = 4 << 20;

/// Why a table line (or a message) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableError {
    /// Fewer than the two required arguments.
    MissingArgs,
    /// Arguments left over after the optional ones.
    ExtraArgs,
    /// `<block_size>` is not a decimal number.
    BlockSizeNotNumber,
    /// `<block_size>` is not a power of two in 512..=65536.
    BlockSizeRange,
    /// `<block_size>` is smaller than the origin's logical block size.
    BlockSizeBelowOrigin,
    /// `<#opt_args>` is not a number, or larger than what follows.
    OptCount,
    /// An optional argument that is not known.
    UnknownOpt,
    /// An optional argument given twice (or both modes).
    DuplicateOpt,
    /// An optional argument without its value.
    MissingValue,
    /// `cache_size` is not a number or smaller than 16 blocks.
    CacheSize,
    /// A watermark is not a number from 0 to 100.
    Watermark,
    /// `low_watermark` is above `high_watermark`.
    WatermarkOrder,
    /// `max_age_ms` is not a number.
    MaxAge,
    /// `readahead` is not a number from 0 to 256.
    Readahead,
    /// `sequential_cutoff` is not a number.
    SequentialCutoff,
}

impl TableError {
    /// The message for `ti->error`.
    pub fn msg(self) -> &'static CStr {
        match self {
            Self::MissingArgs => c"Not enough arguments: expected <origin> <block_size>",
            Self::ExtraArgs => c"Too many arguments: <#opt_args> must count all optional arguments",
            Self::BlockSizeNotNumber => c"Invalid block size: not a decimal number",
            Self::BlockSizeRange => {
                c"Invalid block size: must be a power of two from 512 to 65536 bytes"
            }
            Self::BlockSizeBelowOrigin => {
                c"Invalid block size: smaller than the origin's logical block size"
            }
            Self::OptCount => c"Invalid <#opt_args>: not a number or more than given",
            Self::UnknownOpt => c"Unknown optional argument",
            Self::DuplicateOpt => c"Optional argument given twice",
            Self::MissingValue => c"Optional argument is missing its value",
            Self::CacheSize => c"Invalid cache_size: must be a byte count of at least 16 blocks",
            Self::Watermark => c"Invalid watermark: must be a percentage from 0 to 100",
            Self::WatermarkOrder => c"Invalid watermarks: low_watermark is above high_watermark",
            Self::MaxAge => c"Invalid max_age_ms: not a decimal number",
            Self::Readahead => c"Invalid readahead: must be a block count from 0 to 256",
            Self::SequentialCutoff => {
                c"Invalid sequential_cutoff: must be a byte count (0: never bypass)"
            }
        }
    }
}

/// Cache mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Writes dirty the cache and are written back later.
    Writeback,
    /// Writes go to the origin and update the cache.
    Writethrough,
}

impl Mode {
    /// The keyword of the mode.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Writeback => "writeback",
            Mode::Writethrough => "writethrough",
        }
    }
}

/// The tunable part of the configuration, with which options were given
/// explicitly (only those are printed back in the table line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Per-target cap in bytes; `None` shares the module-wide budget.
    pub cache_size: Option<u64>,
    /// Cache mode.
    pub mode: Mode,
    /// Dirty percentage that starts background writeback.
    pub high_watermark: u8,
    /// Dirty percentage that stops background writeback.
    pub low_watermark: u8,
    /// Age in ms after which dirty data is written back; 0: no limit.
    pub max_age_ms: u64,
    /// Blocks read ahead on a sequential miss; 0 disables readahead.
    pub readahead: u32,
    /// Bytes a sequential read stream runs before its uncached blocks
    /// bypass the cache; 0: never.
    pub sequential_cutoff: u64,
    /// Whether the mode was given explicitly.
    pub mode_set: bool,
    /// Whether `high_watermark` was given explicitly.
    pub high_set: bool,
    /// Whether `low_watermark` was given explicitly.
    pub low_set: bool,
    /// Whether `max_age_ms` was given explicitly.
    pub max_age_set: bool,
    /// Whether `readahead` was given explicitly.
    pub readahead_set: bool,
    /// Whether `sequential_cutoff` was given explicitly.
    pub cutoff_set: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            cache_size: None,
            mode: Mode::Writeback,
            high_watermark: DEFAULT_HIGH_WATERMARK,
            low_watermark: DEFAULT_LOW_WATERMARK,
            max_age_ms: DEFAULT_MAX_AGE_MS,
            readahead: DEFAULT_READAHEAD,
            sequential_cutoff: DEFAULT_SEQUENTIAL_CUTOFF,
            mode_set: false,
            high_set: false,
            low_set: false,
            max_age_set: false,
            readahead_set: false,
            cutoff_set: false,
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
    /// The optional arguments.
    pub opts: Options,
}

/// Parses a decimal `u64` with no sign, no spaces and no leading `+`.
pub fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses a percentage.
pub fn parse_pct(s: &str) -> Result<u8, TableError> {
    match parse_u64(s) {
        Some(v) if v <= 100 => Ok(v as u8),
        _ => Err(TableError::Watermark),
    }
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

/// Checks a cache size in bytes for block size `bs`.
pub fn check_cache_size(bytes: u64, bs: u32) -> Result<u64, TableError> {
    if bytes.checked_div(u64::from(bs)).unwrap_or(0) < MIN_CACHE_BLOCKS {
        return Err(TableError::CacheSize);
    }
    Ok(bytes)
}

/// Checks a watermark pair.
pub fn check_watermarks(high: u8, low: u8) -> Result<(), TableError> {
    if low > high {
        return Err(TableError::WatermarkOrder);
    }
    Ok(())
}

/// Parses the arguments after the target name.
pub fn parse<'a>(args: &[&'a str]) -> Result<Table<'a>, TableError> {
    let (origin, bs, rest) = match args {
        [] | [_] => return Err(TableError::MissingArgs),
        [origin, bs, rest @ ..] => (*origin, *bs, rest),
    };
    let bs = parse_u64(bs).ok_or(TableError::BlockSizeNotNumber)?;
    let block_size = check_block_size(bs)?;
    let mut opts = Options::default();
    if let Some((count, rest)) = rest.split_first() {
        let n = parse_u64(count).ok_or(TableError::OptCount)?;
        if n > rest.len() as u64 {
            return Err(TableError::OptCount);
        }
        if (n as usize) < rest.len() {
            return Err(TableError::ExtraArgs);
        }
        parse_opts(rest, block_size, &mut opts)?;
    }
    Ok(Table {
        origin,
        block_size,
        opts,
    })
}

fn parse_opts(mut a: &[&str], bs: u32, o: &mut Options) -> Result<(), TableError> {
    let mut size_set = false;
    while let Some((&key, rest)) = a.split_first() {
        a = rest;
        let mut value = || -> Result<&str, TableError> {
            let (&v, rest) = a.split_first().ok_or(TableError::MissingValue)?;
            a = rest;
            Ok(v)
        };
        match key {
            "writeback" | "writethrough" => {
                if o.mode_set {
                    return Err(TableError::DuplicateOpt);
                }
                o.mode_set = true;
                o.mode = if key == "writeback" {
                    Mode::Writeback
                } else {
                    Mode::Writethrough
                };
            }
            "cache_size" => {
                if size_set {
                    return Err(TableError::DuplicateOpt);
                }
                size_set = true;
                let v = parse_u64(value()?).ok_or(TableError::CacheSize)?;
                o.cache_size = Some(check_cache_size(v, bs)?);
            }
            "high_watermark" => {
                if o.high_set {
                    return Err(TableError::DuplicateOpt);
                }
                o.high_set = true;
                o.high_watermark = parse_pct(value()?)?;
            }
            "low_watermark" => {
                if o.low_set {
                    return Err(TableError::DuplicateOpt);
                }
                o.low_set = true;
                o.low_watermark = parse_pct(value()?)?;
            }
            "max_age_ms" => {
                if o.max_age_set {
                    return Err(TableError::DuplicateOpt);
                }
                o.max_age_set = true;
                o.max_age_ms = parse_u64(value()?).ok_or(TableError::MaxAge)?;
            }
            "readahead" => {
                if o.readahead_set {
                    return Err(TableError::DuplicateOpt);
                }
                o.readahead_set = true;
                o.readahead = match parse_u64(value()?) {
                    Some(v) if v <= u64::from(MAX_READAHEAD) => v as u32,
                    _ => return Err(TableError::Readahead),
                };
            }
            "sequential_cutoff" => {
                if o.cutoff_set {
                    return Err(TableError::DuplicateOpt);
                }
                o.cutoff_set = true;
                o.sequential_cutoff = parse_u64(value()?).ok_or(TableError::SequentialCutoff)?;
            }
            _ => return Err(TableError::UnknownOpt),
        }
    }
    check_watermarks(o.high_watermark, o.low_watermark)
}

/// Writes the table line (without the target name) as `dmsetup table`
/// shows it; it reloads to the same configuration. `origin_name` is the
/// name DM knows the device by ("major:minor"). Only options that were set
/// explicitly (in the table or by a message) are printed.
pub fn format(
    w: &mut impl fmt::Write,
    origin_name: &str,
    block_size: u32,
    o: &Options,
) -> fmt::Result {
    write!(w, "{} {}", origin_name, block_size)?;
    let n = 2 * u32::from(o.cache_size.is_some())
        + u32::from(o.mode_set)
        + 2 * u32::from(o.high_set)
        + 2 * u32::from(o.low_set)
        + 2 * u32::from(o.max_age_set)
        + 2 * u32::from(o.readahead_set)
        + 2 * u32::from(o.cutoff_set);
    if n == 0 {
        return Ok(());
    }
    write!(w, " {}", n)?;
    if let Some(s) = o.cache_size {
        write!(w, " cache_size {}", s)?;
    }
    if o.mode_set {
        write!(w, " {}", o.mode.name())?;
    }
    if o.high_set {
        write!(w, " high_watermark {}", o.high_watermark)?;
    }
    if o.low_set {
        write!(w, " low_watermark {}", o.low_watermark)?;
    }
    if o.max_age_set {
        write!(w, " max_age_ms {}", o.max_age_ms)?;
    }
    if o.readahead_set {
        write!(w, " readahead {}", o.readahead)?;
    }
    if o.cutoff_set {
        write!(w, " sequential_cutoff {}", o.sequential_cutoff)?;
    }
    Ok(())
}
