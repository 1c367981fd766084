// SPDX-License-Identifier: GPL-2.0

//! The reasons the target gives for refusing a table line, a message or a
//! module parameter are written once, in the code; the tables of the
//! "Errors" section of `Documentation/bufcache.rst` list them. These tests
//! read both as text (the kernel-side sources too, with `include_str!`)
//! and check that every reason the code gives has a row and every row is
//! a reason the code gives.
//!
//! What counts as a reason in the code:
//!
//! - every string literal inside `CtrError::inval(..)`, `nomem(..)` and
//!   `CtrError { .. }` in `rust/bufcache/mod.rs` and `rust/dm/target.rs`
//!   (the constructor's refusals, which DM logs);
//! - every string literal in `fn msg` of `table.rs` (`TableError`, passed
//!   to `CtrError::inval`), and the `error` of every entry of the option
//!   table (`for_each_option!` in `table.rs`, read through `Opt::error`);
//! - the format of every `pr_err!` in the message handler of
//!   `rust/bufcache/mod.rs` (`fn message` and every `fn *_message`; a
//!   `pr_warn!` there means the message was applied, with a warning). A
//!   `pr_err!` that logs a `.msg()` relays the reasons of `fn msg` of
//!   `message.rs` (`MessageError`), each of them in place of the `{}`:
//!   its string literals, and the option table's reasons it passes on
//!   (`MessageError::Table`), the `error` of every option a message
//!   changes and the watermarks' order (checked to be what the parser
//!   returns);
//! - the format of every `pr_warn` and `pr_err` in `rust/sys/helpers.c`
//!   (the `max_cache_size_bytes` setter), without its "dm-bufcache: ".
//!
//! No other file of `rust/` may refuse a table line (`CtrError`): a test
//! reads them all, so a refusal added elsewhere cannot escape the scan.
//!
//! A format's placeholders (`{}`, `%llu`) are written `<n>` in the
//! documentation; a reason is written on one line, between double
//! backquotes, at the start of a row.

use core::ffi::CStr;

const DOC: &str = include_str!("../../Documentation/bufcache.rst");
const DOC_PATH: &str = "Documentation/bufcache.rst";

/// A source file the reasons are read from.
struct Src {
    path: &'static str,
    text: &'static str,
}

const TARGET: Src = Src {
    path: "rust/bufcache/mod.rs",
    text: include_str!("../bufcache/mod.rs"),
};
const CALLBACKS: Src = Src {
    path: "rust/dm/target.rs",
    text: include_str!("../dm/target.rs"),
};
const TABLE: Src = Src {
    path: "rust/cache/table.rs",
    text: include_str!("table.rs"),
};
const MESSAGE: Src = Src {
    path: "rust/cache/message.rs",
    text: include_str!("message.rs"),
};
const HELPERS: Src = Src {
    path: "rust/sys/helpers.c",
    text: include_str!("../sys/helpers.c"),
};

/// A token of C or Rust source, at byte offset `at`: a string literal (its
/// value, escapes resolved), an opening or a closing bracket. Comments,
/// char literals and everything else are left out.
#[derive(Debug)]
enum Tok {
    Str(usize, String),
    Open(usize),
    Close(usize),
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('0') => out.push('\0'),
            Some(e) => out.push(e),
            None => {}
        }
    }
    out
}

/// The offset just past the string literal whose opening quote is at `at`.
fn str_end(s: &str, at: usize) -> usize {
    let b = s.as_bytes();
    let mut j = at + 1;
    while j < b.len() && b[j] != b'"' {
        j += if b[j] == b'\\' { 2 } else { 1 };
    }
    j + 1
}

fn tokens(s: &str) -> Vec<Tok> {
    let b = s.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i += s[i..].find('\n').unwrap_or(s.len() - i);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += s[i..].find("*/").map_or(s.len() - i, |e| e + 2);
            }
            b'"' => {
                let end = str_end(s, i).min(b.len() + 1);
                toks.push(Tok::Str(i, unescape(&s[i + 1..end - 1])));
                i = end;
            }
            b'\'' => {
                // A char literal ('x', '\n', '\'') or a lifetime ('a, '_).
                if b.get(i + 1) == Some(&b'\\') {
                    i += 3 + s[i + 3..].find('\'').unwrap_or(0) + 1;
                } else {
                    let n = s[i + 1..].chars().next().map_or(1, char::len_utf8);
                    i += if b.get(i + 1 + n) == Some(&b'\'') {
                        n + 2
                    } else {
                        1
                    };
                }
            }
            b'(' | b'[' | b'{' => {
                toks.push(Tok::Open(i));
                i += 1;
            }
            b')' | b']' | b'}' => {
                toks.push(Tok::Close(i));
                i += 1;
            }
            _ => i += 1,
        }
    }
    toks
}

impl Src {
    /// The 1-based line of byte offset `at`.
    fn line(&self, at: usize) -> usize {
        self.text[..at].matches('\n').count() + 1
    }

    fn loc(&self, at: usize) -> String {
        format!("{}:{}", self.path, self.line(at))
    }

    /// Offsets of `pat` in code (not in a comment or a string), where `pat`
    /// ends with an opening bracket and does not continue an identifier.
    fn find(&self, toks: &[Tok], pat: &str) -> Vec<usize> {
        self.text
            .match_indices(pat)
            .map(|(at, _)| at)
            .filter(|&at| {
                let before = self.text[..at].chars().next_back();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    && toks
                        .iter()
                        .any(|t| matches!(t, Tok::Open(o) if *o == at + pat.len() - 1))
            })
            .collect()
    }
}

/// The tokens inside the bracket opened at byte `open`, and the offset of
/// the bracket that closes it.
fn inside(toks: &[Tok], open: usize) -> (&[Tok], usize) {
    let first = toks
        .iter()
        .position(|t| matches!(t, Tok::Open(o) if *o == open))
        .expect("an opening bracket")
        + 1;
    let mut depth = 1;
    for (k, t) in toks[first..].iter().enumerate() {
        match t {
            Tok::Open(_) => depth += 1,
            Tok::Close(c) if depth == 1 => return (&toks[first..first + k], *c),
            Tok::Close(_) => depth -= 1,
            Tok::Str(..) => {}
        }
    }
    panic!("unclosed bracket at byte {open}");
}

/// The body of every function whose name `pick` accepts: its tokens and
/// the offsets of its braces.
fn bodies<'t>(
    src: &Src,
    toks: &'t [Tok],
    pick: impl Fn(&str) -> bool,
) -> Vec<(&'t [Tok], usize, usize)> {
    let mut out = Vec::new();
    for (at, _) in src.text.match_indices("fn ") {
        let line = &src.text[src.text[..at].rfind('\n').map_or(0, |n| n + 1)..at];
        if !(line.trim().is_empty() || line.ends_with(' ')) || line.contains("//") {
            continue;
        }
        let rest = &src.text[at + 3..];
        let name_len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if !pick(&rest[..name_len]) || !rest[name_len..].starts_with('(') {
            continue;
        }
        let body = toks.iter().find_map(|t| match t {
            Tok::Open(o) if *o > at && src.text.as_bytes()[*o] == b'{' => Some(*o),
            _ => None,
        });
        let open = body.expect("a function body");
        let (toks, close) = inside(toks, open);
        out.push((toks, open, close));
    }
    out
}

/// The string literals of `toks`.
fn strs(toks: &[Tok]) -> impl Iterator<Item = (usize, &str)> {
    toks.iter().filter_map(|t| match t {
        Tok::Str(at, s) => Some((*at, s.as_str())),
        _ => None,
    })
}

/// The format string of the logging call at `call` whose arguments are
/// `args` (adjacent C literals joined), with its offset.
fn format_of(src: &Src, call: usize, args: &[Tok]) -> (usize, String) {
    let Some(Tok::Str(at, first)) = args.first() else {
        panic!("{}: a logging call without a format string", src.loc(call));
    };
    let mut fmt = first.clone();
    let mut last = *at;
    for t in &args[1..] {
        match t {
            // Only white space between: C joins the two.
            Tok::Str(a, s) if src.text[str_end(src.text, last)..*a].trim().is_empty() => {
                fmt.push_str(s);
                last = *a;
            }
            _ => break,
        }
    }
    (*at, fmt)
}

/// `fmt` as the documentation writes it: no trailing newline, every
/// placeholder `<n>` (Rust's `{..}` when `rust`, else C's `%..`).
fn doc_form(fmt: &str, rust: bool) -> String {
    let mut out = String::new();
    let mut it = fmt.trim_end_matches('\n').chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '{' | '}' if rust && it.peek() == Some(&c) => {
                it.next();
                out.push(c);
            }
            '{' if rust => {
                it.by_ref().find(|&c| c == '}');
                out.push_str("<n>");
            }
            '%' if !rust && it.peek() == Some(&'%') => {
                it.next();
                out.push('%');
            }
            '%' if !rust => {
                it.by_ref()
                    .find(|c| c.is_ascii_alphabetic() && !"hljzt".contains(*c));
                out.push_str("<n>");
            }
            c => out.push(c),
        }
    }
    out
}

/// A reason the code gives, and where.
struct Reason {
    text: String,
    at: String,
    kind: &'static str,
}

/// Every reason the code gives (one entry per place: a reason given in
/// two places comes twice).
fn code_reasons() -> Vec<Reason> {
    let mut out = Vec::new();
    let mut push = |text: String, at: String, kind| out.push(Reason { text, at, kind });

    // The constructor's refusals.
    for src in [&TARGET, &CALLBACKS] {
        let toks = tokens(src.text);
        for pat in ["CtrError::inval(", "nomem(", "CtrError {"] {
            for at in src.find(&toks, pat) {
                let (args, _) = inside(&toks, at + pat.len() - 1);
                for (s, text) in strs(args) {
                    push(text.to_string(), src.loc(s), "constructor");
                }
            }
        }
    }

    // The table parser's refusals.
    let toks = tokens(TABLE.text);
    for (body, _, _) in bodies(&TABLE, &toks, |n| n == "msg") {
        for (s, text) in strs(body) {
            push(text.to_string(), TABLE.loc(s), "table parser");
        }
    }
    for o in super::table::Opt::ALL {
        if let Some(m) = o.error() {
            let text = m.to_str().expect("UTF-8").to_string();
            let at = format!("{}: the option table's {}", TABLE.path, o.name());
            push(text, at, "option table");
        }
    }

    // The message handler's lines; the parser's reasons through the line
    // that relays them.
    let toks = tokens(MESSAGE.text);
    let mut parser: Vec<(String, String)> = bodies(&MESSAGE, &toks, |n| n == "msg")
        .into_iter()
        .flat_map(|(body, _, _)| strs(body))
        .map(|(at, s)| (MESSAGE.loc(at), s.to_string()))
        .collect();
    for (at, reason) in relayed_table_reasons() {
        parser.push((at, reason.to_str().expect("UTF-8").to_string()));
    }
    let toks = tokens(TARGET.text);
    let handler = bodies(&TARGET, &toks, |n| {
        n == "message" || n.ends_with("_message")
    });
    for at in TARGET.find(&toks, "pr_err!(") {
        if !handler
            .iter()
            .any(|&(_, open, close)| open < at && at < close)
        {
            continue;
        }
        let open = at + "pr_err!(".len() - 1;
        let (args, close) = inside(&toks, open);
        let (s, fmt) = format_of(&TARGET, at, args);
        if !TARGET.text[open..close].contains(".msg()") {
            push(doc_form(&fmt, true), TARGET.loc(s), "message handler");
            continue;
        }
        let (before, after) = fmt
            .split_once("{}")
            .unwrap_or_else(|| panic!("{}: no {{}} for the reason", TARGET.loc(s)));
        for (m, reason) in &parser {
            push(
                format!(
                    "{}{reason}{}",
                    doc_form(before, true),
                    doc_form(after, true)
                ),
                format!("{m} via {}", TARGET.loc(s)),
                "message parser",
            );
        }
    }

    // The module parameter's refusals.
    let toks = tokens(HELPERS.text);
    for pat in ["pr_warn(", "pr_err("] {
        for at in HELPERS.find(&toks, pat) {
            let (args, _) = inside(&toks, at + pat.len() - 1);
            let (s, fmt) = format_of(&HELPERS, at, args);
            let fmt = fmt.strip_prefix("dm-bufcache: ").unwrap_or(&fmt);
            push(doc_form(fmt, false), HELPERS.loc(s), "module parameter");
        }
    }
    out
}

/// The option table's reasons the message parser passes on
/// (`MessageError::Table`), with where they come from: the `error` of
/// every option a message changes (a value its parser refuses), and the
/// watermarks' order. Each is checked to be what the parser returns.
fn relayed_table_reasons() -> Vec<(String, &'static CStr)> {
    use super::message::{self, MessageError};
    use super::table::{Opt, TableError};
    let mut out = Vec::new();
    for o in Opt::ALL {
        let (Some(m), Some(reason)) = (o.message(), o.error()) else {
            continue;
        };
        // A word no parser of the table takes, in the option's place.
        let args: Vec<&str> = match o {
            Opt::HighWatermark => vec![m, "x", "0"],
            Opt::LowWatermark => vec![m, "100", "x"],
            _ => vec![m, "x"],
        };
        assert_eq!(
            message::parse(&args, 4096),
            Err(MessageError::Table(TableError::Invalid(o))),
            "{args:?}: the message does not refuse with {o:?}'s reason"
        );
        out.push((
            format!("{}: the option table's {}", TABLE.path, o.name()),
            reason,
        ));
    }
    let order = TableError::WatermarkOrder;
    assert_eq!(
        message::parse(&["watermarks", "0", "1"], 4096),
        Err(MessageError::Table(order)),
        "the watermarks message does not refuse their order with the table's reason"
    );
    out.push((
        format!("{}: TableError::WatermarkOrder", TABLE.path),
        order.msg(),
    ));
    out
}

/// The reasons of the tables of the documentation's "Errors" section,
/// with their line numbers: the text between double backquotes that
/// starts a body row.
fn doc_reasons() -> Vec<(usize, String)> {
    let lines: Vec<&str> = DOC.lines().collect();
    let is_title = |i: usize| {
        let (t, u) = (lines[i], lines.get(i + 1).copied().unwrap_or(""));
        !t.trim().is_empty()
            && !t.starts_with(' ')
            && u.len() >= t.len()
            && u.chars().all(|c| "=-~^".contains(c) && u.starts_with(c))
    };
    let start = (0..lines.len())
        .find(|&i| lines[i] == "Errors" && is_title(i))
        .unwrap_or_else(|| panic!("{DOC_PATH} has no \"Errors\" section"))
        + 2;
    let end = (start..lines.len())
        .find(|&i| is_title(i))
        .unwrap_or(lines.len());
    let is_border = |l: &str| l.starts_with('=') && l.chars().all(|c| c == '=' || c == ' ');
    let mut borders = 0;
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate().take(end).skip(start) {
        if is_border(l) {
            borders += 1;
        } else if borders % 3 == 2 && l.starts_with("``") {
            let len = l[2..].find("``").unwrap_or_else(|| {
                panic!(
                    "{DOC_PATH}:{}: a reason must be on one line, between double backquotes",
                    i + 1
                )
            });
            out.push((i + 1, l[2..2 + len].to_string()));
        }
    }
    assert_eq!(
        borders % 3,
        0,
        "{DOC_PATH}: the Errors section should hold whole simple tables (3 borders each)"
    );
    out
}

#[test]
fn every_reason_of_the_code_is_documented() {
    let doc = doc_reasons();
    let missing: Vec<String> = code_reasons()
        .into_iter()
        .filter(|r| !doc.iter().any(|(_, d)| *d == r.text))
        .map(|r| format!("  {:?} ({}, {})", r.text, r.kind, r.at))
        .collect();
    assert!(
        missing.is_empty(),
        "reasons the code gives that the Errors tables of {DOC_PATH} lack:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_documented_reason_is_in_the_code() {
    let code = code_reasons();
    let doc = doc_reasons();
    let mut stale = Vec::new();
    for (k, (line, d)) in doc.iter().enumerate() {
        if doc[..k].iter().any(|(_, e)| e == d) {
            stale.push(format!("  {d:?} ({DOC_PATH}:{line}: a second row)"));
        } else if !code.iter().any(|r| r.text == *d) {
            stale.push(format!("  {d:?} ({DOC_PATH}:{line})"));
        }
    }
    assert!(
        stale.is_empty(),
        "rows of the Errors tables of {DOC_PATH} that are no reason the code gives:\n{}",
        stale.join("\n")
    );
}

/// Guards the two tests above against passing because the scan found
/// nothing: every kind of reason is found somewhere.
#[test]
fn the_scan_finds_every_kind_of_reason() {
    let code = code_reasons();
    for kind in [
        "constructor",
        "table parser",
        "option table",
        "message parser",
        "message handler",
        "module parameter",
    ] {
        assert!(
            code.iter().any(|r| r.kind == kind),
            "no {kind} reason found in the code: has the code or the scan changed?"
        );
    }
    assert!(
        code.iter()
            .any(|r| r.at.starts_with(CALLBACKS.path) && r.text.contains("UTF-8")),
        "the not-UTF-8 refusal of {} was not found",
        CALLBACKS.path
    );
    assert!(!doc_reasons().is_empty(), "no rows found in {DOC_PATH}");
}

/// The scan reads fixed files: a refusal written anywhere else in `rust/`
/// would be missed, so none may be. Every `.rs` file under `rust/` (the
/// tests and the build's outputs aside) is read at run time.
#[test]
fn refusals_are_only_where_the_scan_reads() {
    use std::path::Path;
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "target") {
                    walk(&p, out);
                }
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let rust = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap();
    let mut files = Vec::new();
    walk(&rust, &mut files);
    assert!(
        files.len() > 20,
        "found only {} files under {}",
        files.len(),
        rust.display()
    );
    let scanned = [TARGET.path, CALLBACKS.path];
    for f in files {
        let rel = format!("rust/{}", f.strip_prefix(&rust).unwrap().to_string_lossy());
        let name = f.file_name().unwrap().to_string_lossy();
        if name.ends_with("_test.rs") || name.ends_with("_generated.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let refuses = ["CtrError::inval(", "CtrError::nomem(", "CtrError {"]
            .iter()
            .any(|p| text.contains(p));
        assert!(
            !refuses || scanned.contains(&rel.as_str()),
            "{rel} refuses a table line (CtrError) but errors_test.rs does not read it: add it to the scan"
        );
    }
}
