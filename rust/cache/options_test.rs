// SPDX-License-Identifier: GPL-2.0

//! The options of the table line are written once, in the option table
//! (`for_each_option!` in `table.rs`); `Documentation/bufcache.rst` lists
//! them under "Optional parameters", and its "Messages" section lists the
//! messages that change them. These tests keep the documentation and the
//! message parser in step with the table, both ways.

use super::message::{self, MessageError};
use super::table::{Opt, Options};

const DOC: &str = include_str!("../../Documentation/bufcache.rst");
const DOC_PATH: &str = "Documentation/bufcache.rst";

/// How the documentation's list writes an option: `name <arg>`, or its
/// keywords.
fn head(o: Opt) -> String {
    if o.takes_value() {
        format!("{} {}", o.name(), o.syntax())
    } else {
        o.syntax().to_string()
    }
}

/// The items of the documentation's list of optional parameters: each
/// item's head (the line indented by 4 that ends with `:`, without it),
/// its line number, and its text (the lines indented by 8 under it),
/// joined on single spaces.
fn doc_items() -> Vec<(String, usize, String)> {
    let lines: Vec<&str> = DOC.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("Optional parameters"))
        .unwrap_or_else(|| panic!("{DOC_PATH} has no \"Optional parameters\" list"));
    let mut items: Vec<(String, usize, String)> = Vec::new();
    for (i, l) in lines.iter().enumerate().skip(start + 1) {
        if !l.is_empty() && !l.starts_with(' ') {
            // The paragraph after the list.
            if !items.is_empty() {
                break;
            }
            continue;
        }
        if let Some(h) = l.strip_prefix("    ").filter(|h| !h.starts_with(' ')) {
            let h = h
                .strip_suffix(':')
                .unwrap_or_else(|| panic!("{DOC_PATH}:{}: an item's head ends with ':'", i + 1));
            items.push((h.to_string(), i + 1, String::new()));
        } else if let (Some(t), Some(item)) = (l.strip_prefix("        "), items.last_mut()) {
            item.2.push(' ');
            item.2.push_str(t.trim());
        }
    }
    items
}

#[test]
fn documentation_lists_the_options_in_order() {
    let doc = doc_items();
    let missing: Vec<String> = Opt::ALL
        .iter()
        .map(|&o| head(o))
        .filter(|h| !doc.iter().any(|(d, _, _)| d == h))
        .collect();
    assert!(
        missing.is_empty(),
        "options of the table that the list of optional parameters of {DOC_PATH} lacks \
         (write them as the table's syntax says): {missing:?}"
    );
    let stale: Vec<String> = doc
        .iter()
        .filter(|(d, _, _)| !Opt::ALL.iter().any(|&o| head(o) == *d))
        .map(|(d, line, _)| format!("{d:?} ({DOC_PATH}:{line})"))
        .collect();
    assert!(
        stale.is_empty(),
        "items of the list of optional parameters that are no option of the table: {stale:?}"
    );
    let order: Vec<String> = doc.iter().map(|(d, _, _)| d.clone()).collect();
    let want: Vec<String> = Opt::ALL.iter().map(|&o| head(o)).collect();
    assert_eq!(order, want, "{DOC_PATH} lists the options in another order");
}

/// An item that names a default names the table's: "Default 50",
/// "default 8", "Default ``writeback``".
#[test]
fn documented_defaults_are_the_tables() {
    let d = Options::default();
    let mut named = 0;
    for (o, (_, line, text)) in Opt::ALL.iter().zip(doc_items()) {
        let text = text.to_lowercase();
        if !text.contains("default") {
            continue;
        }
        let mut v = String::new();
        d.write_value(*o, &mut v).unwrap();
        assert!(
            text.contains(&format!("default {v}")) || text.contains(&format!("default ``{v}``")),
            "{DOC_PATH}:{line}: {} should say \"Default {v}\"",
            o.name()
        );
        named += 1;
    }
    assert!(named >= 5, "only {named} options name their default");
}

#[test]
fn options_parse_as_their_syntax_says() {
    for o in Opt::ALL {
        assert!(o.is_named(o.name()) == o.takes_value(), "{o:?}");
        if o.takes_value() {
            // `<arg>`, one word.
            let s = o.syntax();
            assert!(s.ends_with('>') && !s.contains(' '), "{o:?}: {s}");
        } else {
            // Every keyword is a value of the option.
            for k in o.syntax().split(" | ") {
                let line = format!("7:0 4096 1 {k}");
                let v: Vec<&str> = line.split(' ').collect();
                let t = super::table::parse(&v).unwrap_or_else(|e| panic!("{line}: {e:?}"));
                let mut s = String::new();
                t.opts.write_value(o, &mut s).unwrap();
                assert_eq!(s, k);
            }
        }
        // No keyword names two options.
        for p in Opt::ALL {
            if p != o {
                assert!(!o.syntax().split(" | ").any(|k| p.is_named(k)));
                assert!(!p.is_named(o.name()));
            }
        }
    }
}

/// Each option's `message` is a message the parser knows and the
/// documentation lists; an option without one has no message of its name.
#[test]
fn messages_are_the_tables() {
    let unknown = MessageError::Unknown.msg().to_str().unwrap();
    let messages = DOC
        .split_once("\nMessages\n")
        .unwrap_or_else(|| panic!("{DOC_PATH} has no \"Messages\" section"))
        .1;
    let mut seen = 0;
    for o in Opt::ALL {
        match o.message() {
            Some(m) => {
                assert_ne!(
                    message::parse(&[m], 4096),
                    Err(MessageError::Unknown),
                    "{o:?}: message {m} is not parsed"
                );
                assert!(unknown.contains(m), "{m} is not in {unknown:?}");
                assert!(
                    messages.contains(&format!("\n``{m} ")),
                    "{DOC_PATH}'s Messages do not list {m}"
                );
                seen += 1;
            }
            None => assert_eq!(
                message::parse(&[o.name(), "1"], 4096),
                Err(MessageError::Unknown),
                "{o:?} has no message in the option table"
            ),
        }
    }
    assert!(seen > 0);
}
