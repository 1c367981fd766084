// SPDX-License-Identifier: GPL-2.0

//! The status fields are named in three places besides the code that
//! prints them: `FIELDS`, the guest test helper (`tests/vm/lib/bufcache.sh`)
//! and the documentation table (`Documentation/bufcache.rst`). This test
//! keeps them in step.

use super::status::FIELDS;

#[test]
fn shell_helper_lists_the_fields_in_order() {
    let sh = include_str!("../../tests/vm/lib/bufcache.sh");
    let start = sh.find("BC_FIELDS=(").expect("BC_FIELDS in bufcache.sh") + "BC_FIELDS=(".len();
    let end = start + sh[start..].find(')').expect("end of BC_FIELDS");
    let names: Vec<&str> = sh[start..end].split_whitespace().collect();
    assert_eq!(names, FIELDS);
}

#[test]
fn documentation_lists_the_fields_in_order() {
    let doc = include_str!("../../Documentation/bufcache.rst");
    let mut i = 0;
    for line in doc.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() >= 2
            && w[0].parse::<usize>() == Ok(i + 1)
            && i < FIELDS.len()
            && w[1] == FIELDS[i]
        {
            i += 1;
        }
    }
    assert_eq!(
        i,
        FIELDS.len(),
        "bufcache.rst documents the first {i} fields in order"
    );
}
