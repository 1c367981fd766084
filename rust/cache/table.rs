// SPDX-License-Identifier: GPL-2.0

//! The table line: parsing, validation and formatting.
//!
//! ```text
//! bufcache <origin> <block_size> [<#opt_args> <opt>...]
//! ```
//!
//! The optional arguments (`<opt>`) are written once, in the option table
//! (`for_each_option!` below): the parser, the table text `dmsetup table`
//! prints, the refusals, the live settings of the kernel side
//! (`engine/settings.rs`) and the documentation check (`options_test.rs`)
//! all come from it.
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

/// The option table, the one place where an optional argument of the table
/// line is written. Each entry, in the order `dmsetup table` prints them:
///
/// - its doc, its variant of [`Opt`], its field of [`Options`] (the field's
///   name is the option's name), the field's type and its default;
/// - its syntax, as `Documentation/bufcache.rst` lists it: `"<arg>"` for
///   an option written `<name> <arg>`, or the keywords that are the option
///   and its value at once (`"writeback | writethrough"`);
/// - the parser of its value (the word after the name, or the keyword),
///   given the block size: `None` refuses the line with the option's
///   `error` text (an option of keywords cannot be refused: a word that is
///   none of them is an unknown option). [`value`] holds it, one function
///   per option, for the table line and the messages alike;
/// - `message`: the `dmsetup message` that changes it live, if one does
///   (`message.rs` parses it, its value with the option's parser of
///   [`value`], refused with the same reason; `options_test.rs` checks
///   that it does);
/// - `unmirrored`: why the kernel side keeps no lock-free mirror of it,
///   if it keeps none (`engine/settings.rs` makes an atomic and a reader
///   for every other option, and a reader nothing calls is a dead-code
///   warning: an option is read where it acts, or says here why not).
///
/// Passes the table to the macro `$cb`: `options!` below makes [`Opt`],
/// [`Options`], [`Given`] and [`value`] from it, `mirrors!` in
/// `rust/bufcache/engine/settings.rs` the live settings' atomics and
/// readers. The type of an option implements [`OptValue`].
macro_rules! for_each_option {
    ($cb:ident) => {
        $cb! {
            /// Per-target cap in bytes (when not given, the target shares the
            /// module-wide budget).
            CacheSize cache_size: u64 = 0, "<bytes>",
                |v, bs| parse_u64(v).filter(|&v| check_cache_size(v, bs).is_ok()),
                error c"Invalid cache_size: must be a byte count of at least 16 blocks",
                message "cache_size",
                unmirrored "the engine reads the cap in effect, `Settings::cap_bytes`";
            /// Cache mode.
            Mode mode: Mode = Mode::Writeback, "writeback | writethrough",
                |v, _| Mode::parse(v),
                message "mode";
            /// Dirty percentage that starts background writeback.
            HighWatermark high_watermark: u8 = 50, "<pct>",
                |v, _| parse_pct(v),
                error c"Invalid watermark: must be a percentage from 0 to 100",
                message "watermarks";
            /// Dirty percentage that stops background writeback.
            LowWatermark low_watermark: u8 = 25, "<pct>",
                |v, _| parse_pct(v),
                error c"Invalid watermark: must be a percentage from 0 to 100",
                message "watermarks";
            /// Age in ms after which dirty data is written back; 0: no limit.
            MaxAgeMs max_age_ms: u64 = 5000, "<ms>",
                |v, _| parse_u64(v),
                error c"Invalid max_age_ms: not a decimal number";
            /// Blocks read ahead on a sequential miss; 0 disables readahead.
            Readahead readahead: u32 = 8, "<blocks>",
                |v, _| parse_u64(v).filter(|&v| v <= u64::from(MAX_READAHEAD)).map(|v| v as u32),
                error c"Invalid readahead: must be a block count from 0 to 256";
            /// Bytes a sequential stream runs before its uncached blocks bypass
            /// the cache (bcache's `sequential_cutoff`); 0: never.
            SequentialCutoff sequential_cutoff: u64 = 4 << 20, "<bytes>",
                |v, _| parse_u64(v),
                error c"Invalid sequential_cutoff: must be a byte count (0: never bypass)";
        }
    };
}
// Used by the kernel side (`engine/settings.rs`).
#[allow(unused_imports)]
pub(crate) use for_each_option;

/// Defines [`Opt`], [`Options`], [`Given`] and [`value`] from the option
/// table.
macro_rules! options {
    (@some) => { None };
    (@some $e:literal) => { Some($e) };
    ($($(#[doc = $doc:literal])*
       $var:ident $field:ident: $ty:ty = $default:expr, $syntax:literal, $parse:expr
       $(, error $err:literal)? $(, message $msg:literal)?
       $(, unmirrored $why:literal)?;)*) => {
        /// The option table's parser of each option's value, named after
        /// the option: the value of the word `v` (the word after the
        /// option's name, or its keyword) for block size `bs`, or the
        /// option's refusal ([`TableError::Invalid`], whose message is the
        /// option's `error`). The table line and the messages that change
        /// an option both parse its value here.
        pub mod value {
            use super::*;

            $(#[doc = concat!("Parses a value of `", stringify!($field), "`.")]
            pub fn $field(v: &str, bs: u32) -> Result<$ty, TableError> {
                let parse: fn(&str, u32) -> Option<$ty> = $parse;
                parse(v, bs).ok_or(TableError::Invalid(Opt::$var))
            })*
        }

        /// An optional argument of the table line, in the order the table
        /// text prints them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Opt {
            $($(#[doc = $doc])* $var,)*
        }

        impl Opt {
            /// Number of options.
            pub const COUNT: usize = [$(stringify!($field)),*].len();
            /// Every option, in order.
            pub const ALL: [Opt; Opt::COUNT] = [$(Opt::$var),*];

            /// The option's name (its field of [`Options`]).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Opt::$var => stringify!($field),)*
                }
            }

            /// Its syntax: `"<arg>"` after its name, or its keywords.
            pub const fn syntax(self) -> &'static str {
                match self {
                    $(Opt::$var => $syntax,)*
                }
            }

            /// The reason a bad value is refused with (`None`: the option
            /// is its keywords, and cannot be refused).
            pub const fn error(self) -> Option<&'static CStr> {
                match self {
                    $(Opt::$var => options!(@some $($err)?),)*
                }
            }

            /// The message that changes the option live, if any.
            pub const fn message(self) -> Option<&'static str> {
                match self {
                    $(Opt::$var => options!(@some $($msg)?),)*
                }
            }
        }

        /// Which options were given explicitly, by the table line or by a
        /// message (only those are printed back in the table text).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct Given {
            $(#[doc = concat!("Whether `", stringify!($field), "` was given.")]
              pub $field: bool,)*
        }

        /// The optional arguments' values (defaults for those not given),
        /// and which ones were given.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct Options {
            $($(#[doc = $doc])* pub $field: $ty,)*
            /// Which options were given explicitly.
            pub given: Given,
        }

        impl Default for Options {
            fn default() -> Self {
                Self {
                    $($field: $default,)*
                    given: Given::default(),
                }
            }
        }

        impl Options {
            /// Whether option `o` was given explicitly.
            pub fn is_given(&self, o: Opt) -> bool {
                match o {
                    $(Opt::$var => self.given.$field,)*
                }
            }

            /// Sets option `o` from its word `v` (block size `bs`), as
            /// given explicitly.
            fn parse_value(&mut self, o: Opt, v: &str, bs: u32) -> Result<(), TableError> {
                match o {
                    $(Opt::$var => {
                        self.$field = value::$field(v, bs)?;
                        self.given.$field = true;
                    })*
                }
                Ok(())
            }

            /// Writes option `o`'s value.
            pub fn write_value(&self, o: Opt, w: &mut impl fmt::Write) -> fmt::Result {
                match o {
                    $(Opt::$var => write!(w, "{}", self.$field),)*
                }
            }
        }
    };
}

for_each_option!(options);

/// A type an option can have: printable in the table text, and kept by the
/// kernel side in an `Atomic<u64>` mirror (`engine/settings.rs`).
pub trait OptValue: Copy + fmt::Display {
    /// The value as the mirror holds it.
    fn to_bits(self) -> u64;
    /// The value back from the mirror (which only ever holds `to_bits`).
    fn from_bits(b: u64) -> Self;
}

impl OptValue for u64 {
    fn to_bits(self) -> u64 {
        self
    }
    fn from_bits(b: u64) -> Self {
        b
    }
}

impl OptValue for u32 {
    fn to_bits(self) -> u64 {
        u64::from(self)
    }
    fn from_bits(b: u64) -> Self {
        b as u32
    }
}

impl OptValue for u8 {
    fn to_bits(self) -> u64 {
        u64::from(self)
    }
    fn from_bits(b: u64) -> Self {
        b as u8
    }
}

impl OptValue for Mode {
    fn to_bits(self) -> u64 {
        match self {
            Mode::Writeback => 0,
            Mode::Writethrough => 1,
        }
    }
    fn from_bits(b: u64) -> Self {
        if b == 1 {
            Mode::Writethrough
        } else {
            Mode::Writeback
        }
    }
}

impl Opt {
    /// Whether the option is written `<name> <arg>` (else it is one of its
    /// keywords).
    pub fn takes_value(self) -> bool {
        self.syntax().starts_with('<')
    }

    /// Whether `key` names the option: its name, or one of its keywords.
    pub fn is_named(self, key: &str) -> bool {
        if self.takes_value() {
            key == self.name()
        } else {
            self.syntax().split(" | ").any(|k| k == key)
        }
    }

    /// The option whose name or keyword is `key`.
    pub fn find(key: &str) -> Option<Opt> {
        Opt::ALL.into_iter().find(|o| o.is_named(key))
    }
}

impl Options {
    /// The `cache_size` given, if any.
    pub fn given_cache_size(&self) -> Option<u64> {
        self.given.cache_size.then_some(self.cache_size)
    }
}

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
    /// An option's value that its parser refuses (the option table's
    /// `error`).
    Invalid(Opt),
    /// `low_watermark` is above `high_watermark`.
    WatermarkOrder,
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
            // Only an option with an `error` is refused as invalid.
            Self::Invalid(o) => match o.error() {
                Some(m) => m,
                None => Self::UnknownOpt.msg(),
            },
            Self::WatermarkOrder => c"Invalid watermarks: low_watermark is above high_watermark",
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

    /// The mode whose keyword is `s`.
    pub fn parse(s: &str) -> Option<Mode> {
        [Mode::Writeback, Mode::Writethrough]
            .into_iter()
            .find(|m| m.name() == s)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
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

/// Parses a percentage (0 to 100).
pub fn parse_pct(s: &str) -> Option<u8> {
    parse_u64(s).filter(|&v| v <= 100).map(|v| v as u8)
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
        return Err(TableError::Invalid(Opt::CacheSize));
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
    while let Some((&key, rest)) = a.split_first() {
        a = rest;
        let opt = Opt::find(key).ok_or(TableError::UnknownOpt)?;
        if o.is_given(opt) {
            return Err(TableError::DuplicateOpt);
        }
        let value = if opt.takes_value() {
            let (&v, rest) = a.split_first().ok_or(TableError::MissingValue)?;
            a = rest;
            v
        } else {
            key
        };
        o.parse_value(opt, value, bs)?;
    }
    check_watermarks(o.high_watermark, o.low_watermark)
}

/// Writes the table line (without the target name) as `dmsetup table`
/// shows it; it reloads to the same configuration. `origin_name` is the
/// name DM knows the device by ("major:minor"). Only options that were set
/// explicitly (in the table or by a message) are printed, in the option
/// table's order.
pub fn format(
    w: &mut impl fmt::Write,
    origin_name: &str,
    block_size: u32,
    o: &Options,
) -> fmt::Result {
    write!(w, "{} {}", origin_name, block_size)?;
    let given = || Opt::ALL.into_iter().filter(|&opt| o.is_given(opt));
    let n: u32 = given().map(|opt| 1 + u32::from(opt.takes_value())).sum();
    if n == 0 {
        return Ok(());
    }
    write!(w, " {}", n)?;
    for opt in given() {
        if opt.takes_value() {
            write!(w, " {}", opt.name())?;
        }
        w.write_char(' ')?;
        o.write_value(opt, w)?;
    }
    Ok(())
}
