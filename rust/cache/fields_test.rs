// SPDX-License-Identifier: GPL-2.0

//! The status fields are named in one table (`status::Field`); the guest
//! test helper (`tests/vm/lib/bufcache.sh`) and the documentation
//! (`Documentation/bufcache.rst`) repeat them. These tests keep them in
//! step with the table: names, order, and which fields `clear_stats`
//! leaves alone.

use super::status::Field;

#[test]
fn shell_helper_lists_the_fields_in_order() {
    let sh = include_str!("../../tests/vm/lib/bufcache.sh");
    let start = sh.find("BC_FIELDS=(").expect("BC_FIELDS in bufcache.sh") + "BC_FIELDS=(".len();
    let end = start + sh[start..].find(')').expect("end of BC_FIELDS");
    let names: Vec<&str> = sh[start..end].split_whitespace().collect();
    assert_eq!(names, Field::NAMES);
}

#[test]
fn documentation_lists_the_fields_in_order() {
    let doc = include_str!("../../Documentation/bufcache.rst");
    let mut i = 0;
    for line in doc.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() >= 2
            && w[0].parse::<usize>() == Ok(i + 1)
            && i < Field::COUNT
            && w[1] == Field::NAMES[i]
        {
            i += 1;
        }
    }
    assert_eq!(
        i,
        Field::COUNT,
        "bufcache.rst documents the first {i} fields in order"
    );
}

/// The fields (numbered from 1) that `clear_stats` does not reset, as the
/// documentation writes them: "1-4, 13, 19, 25, 31-39 and 41".
fn kept_fields() -> String {
    let kept: Vec<usize> = Field::ALL
        .iter()
        .filter(|f| !f.source().cleared())
        .map(|f| f.index() + 1)
        .collect();
    let mut runs: Vec<String> = Vec::new();
    let mut i = 0;
    while i < kept.len() {
        let mut j = i;
        while j + 1 < kept.len() && kept[j + 1] == kept[j] + 1 {
            j += 1;
        }
        runs.push(if i == j {
            format!("{}", kept[i])
        } else {
            format!("{}-{}", kept[i], kept[j])
        });
        i = j + 1;
    }
    match runs.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {}", rest.join(", "), last),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

#[test]
fn documentation_names_the_fields_clear_stats_keeps() {
    let doc = include_str!("../../Documentation/bufcache.rst");
    let text = doc.split_whitespace().collect::<Vec<_>>().join(" ");
    let want = format!(
        "``clear_stats`` resets the counters: every field except {}.",
        kept_fields()
    );
    assert!(text.contains(&want), "bufcache.rst should say: {want}");
}
