//! The README's "libzmq coverage" tables against the code: every socket option of libzmq
//! 4.3.5 is listed once with its number, an option marked "yes" is taken by
//! `Socket::setsockopt` or `getsockopt`, one marked "no" is refused by both as unsupported;
//! a socket type marked "yes" exists, one marked "no" does not.

use aiozmq::socket::opt::{self, Kind};
use aiozmq::socket::OptValue;
use aiozmq::{Socket, SocketType};

const README: &str = include_str!("../README.md");

/// The rows of the tables in the README's "libzmq coverage" section: the cells of each.
fn rows() -> Vec<Vec<String>> {
    let start = README
        .find("\n## libzmq coverage\n")
        .expect("the README has a 'libzmq coverage' section");
    let section = &README[start + 1..];
    let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
    section[..end]
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// Whether `option` is supported: `getsockopt` or `setsockopt` (with a value of its kind)
/// answers anything but the "unsupported" refusal.
fn supported(option: i32) -> bool {
    let unsupported = |e: &aiozmq::Error| e.to_string().contains("unknown or unsupported option");
    let s = Socket::new(SocketType::Dealer);
    let got = s.getsockopt(option);
    let value = match opt::kind_of(option).expect("a libzmq option") {
        Kind::Int => OptValue::Int(0),
        Kind::Bytes => OptValue::from("x"),
    };
    let set = s.setsockopt(option, value);
    !(got.is_err_and(|e| unsupported(&e)) && set.is_err_and(|e| unsupported(&e)))
}

#[test]
fn every_libzmq_option_is_listed_once_and_marked_as_the_code_does() {
    let rows = rows();
    let options: Vec<_> = rows
        .iter()
        .filter(|r| r.len() == 4 && opt::ALL.iter().any(|(n, _, _)| *n == r[0]))
        .collect();
    let missing: Vec<_> = opt::ALL
        .iter()
        .filter(|(n, _, _)| !options.iter().any(|r| r[0] == *n))
        .map(|(n, _, _)| n)
        .collect();
    assert!(
        missing.is_empty(),
        "options missing from the table: {missing:?}"
    );
    assert_eq!(options.len(), opt::ALL.len(), "one row per libzmq option");
    let mut wrong = Vec::new();
    for (name, number, _) in opt::ALL {
        let row = options.iter().find(|r| r[0] == *name).unwrap();
        assert_eq!(row[1], number.to_string(), "{name}'s number");
        let listed = match row[2].as_str() {
            "yes" => true,
            "no" => false,
            other => panic!("{name}: '{other}' is neither yes nor no"),
        };
        if listed != supported(*number) {
            wrong.push(format!("{name} is listed '{}'", row[2]));
        }
        if !listed {
            assert!(!row[3].is_empty(), "{name}: a 'no' says why");
        }
    }
    assert!(
        wrong.is_empty(),
        "the table disagrees with the code: {wrong:?}"
    );
}

#[test]
fn every_socket_type_is_listed_as_the_code_has_it() {
    let mut seen = Vec::new();
    for row in rows().iter().filter(|r| r.len() == 4) {
        let (first, last) = match row[1].split_once('–') {
            Some((a, b)) => (a.parse::<i32>(), b.parse::<i32>()),
            None => (row[1].parse::<i32>(), row[1].parse::<i32>()),
        };
        let (Ok(first), Ok(last)) = (first, last) else {
            continue;
        };
        let names: Vec<&str> = row[0].split(", ").collect();
        if names.iter().any(|n| opt::by_name(n).is_some()) {
            continue; // an option row
        }
        assert_eq!(names.len() as i32, last - first + 1, "{row:?}");
        for (n, name) in names.iter().enumerate() {
            let number = first + n as i32;
            let here = name.parse::<SocketType>().ok();
            assert_eq!(
                here.is_some(),
                row[2] == "yes",
                "{name} ({number}) is listed '{}'",
                row[2]
            );
            if let Some(t) = here {
                assert_eq!(t.to_raw(), number, "{name}'s number");
            }
            seen.push(number);
        }
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..=20).collect::<Vec<_>>(),
        "types 0 to 20, once each"
    );
}
