//! The library's layers point one way. Each top-level module of `src/` has a rank; code in a
//! module may name (`crate::...`, `use crate::...`, `super::` paths leave the module only
//! through `crate::`) modules of a lower rank only. Modules of the same rank may not name each
//! other, so a circle cannot form. Names re-exported at the crate root (`crate::Socket`) count
//! as the module they come from, read from `src/lib.rs`.
//!
//! Comments are not code: doc links may point anywhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layers, bottom first. A module not listed here fails the test, so a new module must
/// choose its place.
const LAYERS: &[&[&str]] = &[
    &["error"],
    &["message", "version"],
    &["monitor"],
    &["zmtp"],
    &["security"],
    &["transport"],
    &["plane"],
    &["engine"],
    &["socket"],
    &["api", "blocking"],
    &["proxy", "rpc"],
    &["fuzzing"],
];

fn rank_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments (line comments and doc comments; block comments
/// are not used in this crate) and without string literals' contents.
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = '\0';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if in_str {
                if c == '"' && prev != '\\' {
                    in_str = false;
                    out.push('"');
                }
                prev = if prev == '\\' && c == '\\' { '\0' } else { c };
                continue;
            }
            if c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\'' {
                in_str = true;
            }
            out.push(c);
            prev = c;
        }
        out.push('\n');
    }
    out
}

/// Identifier characters.
fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The first path segments after each `crate::` (`$crate::` included), expanding one level of
/// braces: `use crate::{a::b, c}` names `a` and `c`.
fn crate_references(code: &str) -> Vec<String> {
    let mut refs = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| ident_char(c) && c != '$') {
            continue;
        }
        let rest_trim = rest.trim_start();
        if let Some(inner) = rest_trim.strip_prefix('{') {
            // One level of braces: split at top-level commas.
            let mut depth = 0;
            let mut item = String::new();
            for c in inner.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        refs.push(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            refs.push(first_segment(&item));
        } else {
            refs.push(first_segment(rest_trim));
        }
    }
    refs.retain(|r| !r.is_empty() && r != "self");
    refs
}

fn first_segment(s: &str) -> String {
    s.trim_start()
        .chars()
        .take_while(|c| ident_char(*c))
        .collect()
}

/// Root re-exports (`pub use module::{A, B as C}` in lib.rs): name -> module.
fn root_exports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let code = code_of(lib);
    let joined = code.replace('\n', " ");
    for stmt in joined.split(';') {
        let stmt = stmt.trim();
        let Some(path) = stmt.strip_prefix("pub use ") else {
            continue;
        };
        let path = path.trim().trim_start_matches("crate::");
        let module = first_segment(path);
        let names: Vec<&str> = match path.find('{') {
            Some(b) => path[b + 1..]
                .trim_end_matches('}')
                .split(',')
                .map(str::trim)
                .collect(),
            None => vec![path.rsplit("::").next().unwrap_or("")],
        };
        for n in names {
            let alias = n.rsplit(" as ").next().unwrap_or(n).trim();
            let alias = alias.rsplit("::").next().unwrap_or(alias);
            if !alias.is_empty() && alias != module {
                map.insert(alias.to_string(), module.clone());
            }
        }
    }
    map
}

/// The top-level module a file belongs to (`None` for lib.rs and the binaries).
fn top_module(file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src()).unwrap();
    let mut parts = rel.iter().map(|p| p.to_string_lossy().into_owned());
    let first = parts.next()?;
    if first == "lib.rs" || first == "bin" || first == "main.rs" {
        return None;
    }
    Some(first.trim_end_matches(".rs").to_string())
}

#[test]
fn every_top_level_module_names_only_modules_below_it() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let exports = root_exports(&lib);
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    let mut problems = Vec::new();
    let mut edges: BTreeMap<(String, String), String> = BTreeMap::new();
    for file in &files {
        let Some(module) = top_module(file) else {
            continue;
        };
        let Some(rank) = rank_of(&module) else {
            problems.push(format!(
                "src/{module}: not in the layer list of tests/layering.rs; give it a place"
            ));
            continue;
        };
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        for r in crate_references(&code) {
            let target = if rank_of(&r).is_some() {
                r.clone()
            } else if let Some(m) = exports.get(&r) {
                m.clone()
            } else {
                // Macros exported at the root (`crate::rpc_call!`) and the like: ask lib.rs.
                continue;
            };
            if target == module {
                continue;
            }
            let target_rank = rank_of(&target).unwrap_or(usize::MAX);
            let rel = file.strip_prefix(src()).unwrap().display().to_string();
            edges.entry((module.clone(), target.clone())).or_insert(rel);
            if target_rank >= rank {
                problems.push(format!(
                    "src/{}: {module} (layer {rank}) names crate::{r} = {target} (layer {target_rank})",
                    file.strip_prefix(src()).unwrap().display()
                ));
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "layering violations (a module may name only modules of a lower layer):\n{}",
        problems.join("\n")
    );
    // The check must see something: the engine names the data plane, the socket the engine.
    assert!(edges.contains_key(&("engine".into(), "plane".into())));
    assert!(edges.contains_key(&("socket".into(), "engine".into())));
}

#[test]
fn the_reference_scanner_sees_braced_and_plain_paths() {
    let code = code_of(
        "use crate::socket::{Shared, state};\nuse crate::{error::Error, Message};\n\
         // crate::api in a comment\nlet s = \"crate::rpc\"; x = crate::zmtp::frame::renew(b);\n\
         $crate::rpc::call!()",
    );
    let refs = crate_references(&code);
    assert_eq!(refs, ["socket", "error", "Message", "zmtp", "rpc"]);
}
