//! `docs/ARCHITECTURE.md`'s module table is true of the code: every module under
//! `src/` has a row, and every `crate::…` path in a module's files (`src/<m>.rs`,
//! `src/<m>/**`; `a::b` rows: `src/a/b.rs`, `src/a/b/**`) names a module its
//! "may call" column lists (or itself). And nothing but the binaries and the daemon
//! itself reaches into `daemon`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Module → what it may call, from the "Modules (src/)" table.
fn table(doc: &str) -> BTreeMap<String, BTreeSet<String>> {
    let section = doc
        .split("## Modules (src/)")
        .nth(1)
        .expect("ARCHITECTURE.md has a \"## Modules (src/)\" section");
    let mut rows = BTreeMap::new();
    for line in section.lines().skip_while(|l| !l.starts_with('|')) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let [module, _owns, may_call] = cells[..] else {
            panic!("a module row has three cells: {line}");
        };
        let Some(module) = module.strip_prefix('`').and_then(|m| m.strip_suffix('`')) else {
            continue; // the header and its rule
        };
        rows.insert(module.to_string(), backticked(may_call));
    }
    rows
}

fn backticked(cell: &str) -> BTreeSet<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The files of module `a::b`: `src/a/b.rs` and everything under `src/a/b/`.
fn files_of(module: &str) -> Vec<PathBuf> {
    let base = root().join("src").join(module.replace("::", "/"));
    let mut files = Vec::new();
    let single = base.with_extension("rs");
    if single.is_file() {
        files.push(single);
    }
    if base.is_dir() {
        rust_files(&base, &mut files);
    }
    files
}

/// The top-level modules named by `crate::` paths in code (comments skipped),
/// including grouped imports (`use crate::{db, events}`).
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (i, _) in line.match_indices("crate::") {
            let rest = &line[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let group = group.split('}').next().unwrap_or_default();
                for item in group.split(',') {
                    found.insert(ident(item.trim()));
                }
            } else {
                found.insert(ident(rest));
            }
        }
    }
    found.retain(|m| !m.is_empty());
    found
}

fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// Every module directly under `src/` (the binaries and the crate root aside).
fn top_level_modules() -> BTreeSet<String> {
    std::fs::read_dir(root().join("src"))
        .expect("src")
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            let name = path.file_stem()?.to_str()?.to_string();
            let module = path.is_dir() || path.extension().is_some_and(|x| x == "rs");
            (module && name != "lib" && name != "bin").then_some(name)
        })
        .collect()
}

/// What breaks the table's rules, one line each (empty when it holds).
fn violations(doc: &str) -> Vec<String> {
    let rows = table(doc);
    let mut bad = Vec::new();
    for module in top_level_modules() {
        if !rows.contains_key(&module) {
            bad.push(format!("src/{module} has no row in the module table"));
        }
    }
    for (module, may_call) in &rows {
        let files = files_of(module);
        if files.is_empty() {
            bad.push(format!("`{module}` has a row but no files under src/"));
        }
        let own = module.split("::").next().unwrap_or_default();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read");
            for used in crate_paths(&text) {
                if used != own && !may_call.contains(&used) {
                    bad.push(format!(
                        "{} uses crate::{used}, which `{module}` may not call",
                        file.strip_prefix(root()).unwrap_or(&file).display()
                    ));
                }
            }
        }
    }
    bad
}

#[test]
fn the_module_table_holds_for_every_crate_path() {
    let doc = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).expect("doc");
    let rows = table(&doc);
    assert!(
        rows.len() >= 15,
        "parsed only {} rows: {rows:?}",
        rows.len()
    );
    assert_eq!(rows["exit"], BTreeSet::new(), "\"—\" is no module");
    let bad = violations(&doc);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn only_the_binaries_and_the_daemon_reach_into_daemon() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let (bin, daemon) = (root().join("src/bin"), root().join("src/daemon"));
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(&bin) && !f.starts_with(&daemon))
        .filter(|f| {
            let text = std::fs::read_to_string(f).expect("read");
            crate_paths(&text).contains("daemon")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(offenders.is_empty(), "crate::daemon used in {offenders:?}");
}

#[test]
fn a_forbidden_import_is_caught() {
    // The checker itself: the same table with `rpc` losing `db` must fail on the
    // real files, and the path scanner must see grouped and commented paths right.
    let doc = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).expect("doc");
    let narrowed: String = doc
        .lines()
        .map(|l| match l.starts_with("| `rpc` |") {
            true => l.replace("`db`, ", ""),
            false => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        violations(&narrowed)
            .iter()
            .any(|v| v.contains("crate::db, which `rpc` may not call")),
        "dropping rpc's `db` went unnoticed"
    );
    let paths = crate_paths(
        "use crate::{db::Store, events};\n// crate::daemon in a comment\nlet x = crate::sync::f();",
    );
    assert_eq!(
        paths,
        ["db", "events", "sync"]
            .map(String::from)
            .into_iter()
            .collect()
    );
}

#[test]
fn nothing_below_the_daemon_reads_the_config() {
    // The daemon builds every subsystem's options from `Config`; a subsystem that
    // read the file's structs itself would tie its options to the file's layout.
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let allowed = ["src/bin", "src/daemon", "src/config"].map(|d| root().join(d));
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| *f != &root().join("src/config.rs"))
        .filter(|f| !allowed.iter().any(|a| f.starts_with(a)))
        .filter(|f| {
            let text = std::fs::read_to_string(f).expect("read");
            crate_paths(&text).contains("config")
        })
        .map(|f| f.strip_prefix(root()).unwrap_or(f).display().to_string())
        .collect();
    assert!(offenders.is_empty(), "crate::config used in {offenders:?}");
}

/// Functions allowed over [`MAX_FN_LINES`]: declarative tables, read as a list (the
/// test names each entry that no longer needs to be here).
const LONG_TABLES: &[(&str, &str)] = &[("sandbox/src/routes/mod.rs", "router")];

/// The most lines a function may have, from its `fn` line to its closing brace.
const MAX_FN_LINES: usize = 100;

/// The file's text with comments, strings and character literals blanked, lines
/// kept: what is left of braces is code's.
fn code_only(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    while i < chars.len() {
        let (c, next) = (chars[i], chars.get(i + 1).copied());
        let skipped = match (c, next) {
            ('/', Some('/')) => chars[i..].iter().position(|&c| c == '\n'),
            ('/', Some('*')) => find(&chars[i + 2..], "*/").map(|n| n + 4),
            ('r', Some('"' | '#')) if i == 0 || !ident(chars[i - 1]) => raw_string(&chars[i..]),
            ('"', _) => quoted(&chars[i..], '"'),
            ('\'', Some('\\')) => quoted(&chars[i..], '\''),
            ('\'', Some(_)) if chars.get(i + 2) == Some(&'\'') => Some(3),
            _ => None,
        };
        match skipped {
            Some(n) => {
                // Newlines inside what is skipped are kept, so line numbers hold.
                out.extend(chars[i..i + n].iter().filter(|&&c| c == '\n'));
                i += n;
            }
            None => {
                out.push(c);
                i += 1;
            }
        }
    }
    out.lines().map(str::to_string).collect()
}

fn find(chars: &[char], what: &str) -> Option<usize> {
    let what: Vec<char> = what.chars().collect();
    chars.windows(what.len()).position(|w| w == what.as_slice())
}

/// The length of a `"…"` or `'…'` literal starting at `chars[0]`.
fn quoted(chars: &[char], quote: char) -> Option<usize> {
    let mut i = 1;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            c if c == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    Some(chars.len())
}

/// The length of `r"…"` / `r#"…"#` starting at `chars[0]` (None: not a raw string).
fn raw_string(chars: &[char]) -> Option<usize> {
    let hashes = chars[1..].iter().take_while(|&&c| c == '#').count();
    if chars.get(1 + hashes) != Some(&'"') {
        return None;
    }
    let close: String = std::iter::once('"')
        .chain("#".repeat(hashes).chars())
        .collect();
    let body = 2 + hashes;
    Some(find(&chars[body..], &close).map_or(chars.len(), |n| body + n + close.len()))
}

/// The name of the function a code line opens (`pub(crate) async fn name…`).
fn fn_name(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    if let Some(r) = rest.strip_prefix("pub(") {
        rest = r.split_once(')')?.1.trim_start();
    }
    for word in ["pub ", "const ", "async ", "unsafe "] {
        rest = rest.strip_prefix(word).unwrap_or(rest).trim_start();
    }
    let name = rest.strip_prefix("fn ")?;
    let end = name
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(name.len());
    Some(&name[..end])
}

/// Every function in the text with its length in lines (a body-less declaration
/// has none and is left out).
fn function_lengths(text: &str) -> Vec<(String, usize)> {
    let lines = code_only(text);
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let Some(name) = fn_name(line) else { continue };
        let mut depth = 0i64;
        let mut opened = false;
        for (j, l) in lines.iter().enumerate().skip(start) {
            depth += l.matches('{').count() as i64 - l.matches('}').count() as i64;
            opened |= l.contains('{');
            if opened && depth <= 0 {
                found.push((name.to_string(), j - start + 1));
                break;
            }
            if !opened && l.trim_end().ends_with(';') {
                break;
            }
        }
    }
    found
}

#[test]
fn no_function_is_over_a_hundred_lines() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    rust_files(&root().join("sandbox/src"), &mut files);
    let allowed = |path: &str, name: &str| LONG_TABLES.iter().any(|&(p, n)| p == path && n == name);
    let mut long = Vec::new();
    let mut still_needed = BTreeSet::new();
    for file in files {
        let path = file
            .strip_prefix(root())
            .unwrap_or(&file)
            .display()
            .to_string();
        let text = std::fs::read_to_string(&file).expect("read");
        for (name, n) in function_lengths(&text) {
            if n <= MAX_FN_LINES {
                continue;
            }
            match allowed(&path, &name) {
                true => {
                    still_needed.insert((path.clone(), name));
                }
                false => long.push(format!("{path}: fn {name} has {n} lines")),
            }
        }
    }
    assert!(
        long.is_empty(),
        "split by concern (or, for a declarative table, add it to LONG_TABLES):\n{}",
        long.join("\n")
    );
    let stale: Vec<String> = LONG_TABLES
        .iter()
        .filter(|&&(p, n)| !still_needed.contains(&(p.to_string(), n.to_string())))
        .map(|(p, n)| format!("{p}: fn {n}"))
        .collect();
    assert!(
        stale.is_empty(),
        "no longer over {MAX_FN_LINES} lines (or gone): take off the allowlist:\n{}",
        stale.join("\n")
    );
}

#[test]
fn a_long_function_is_measured_past_strings_comments_and_chars() {
    // 101 lines from `fn` to `}`, with braces in a string, a comment, a raw string
    // and character literals that must not count.
    let mut text = String::from("pub(crate) async fn long() {\n");
    text.push_str("    let s = \"}\"; // }\n    let r = r#\"}\"#; let c = '}'; let q = b'\"';\n");
    text.push_str(&"    work();\n".repeat(97));
    text.push_str(
        "}\nfn short<'a>(x: &'a str) -> &'a str {\n    x\n}\ntrait T {\n    fn decl(&self);\n}\n",
    );
    assert_eq!(
        function_lengths(&text),
        vec![("long".to_string(), 101), ("short".to_string(), 3)]
    );
}

/// The string literals of a Rust source (`"…"` and `r"…"`/`r#"…"#`), comments
/// skipped; escapes are kept as written (a method name has none).
fn string_literals(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
        let mut rest = line;
        while let Some(start) = rest.find('"') {
            if rest[..start].contains("//") {
                break; // a comment after the code
            }
            let hashes = rest[..start]
                .chars()
                .rev()
                .take_while(|c| *c == '#')
                .count();
            let close = format!("\"{}", "#".repeat(hashes));
            let body = &rest[start + 1..];
            let end = if hashes > 0 {
                body.find(&close)
            } else {
                body.char_indices()
                    .scan(false, |escaped, (i, c)| {
                        let at = (c == '"' && !*escaped).then_some(i);
                        *escaped = c == '\\' && !*escaped;
                        Some(at)
                    })
                    .flatten()
                    .next()
            };
            let Some(end) = end else { break };
            found.push(body[..end].to_string());
            rest = &body[end + close.len()..];
        }
    }
    found
}

/// numhubctl calls methods through their `api` marker types, never by a name it
/// spells itself: a method-name string in its sources is a call the compiler cannot
/// check against the daemon's types.
#[test]
fn numhubctl_spells_no_method_name() {
    // The daemon's method table, which rpc.discover publishes.
    let names: BTreeSet<&str> = numhubd::rpc::methods::all()
        .iter()
        .map(|d| d.name)
        .collect();
    assert!(names.contains("tenant.list") && names.contains("events.subscribe"));
    let mut files = Vec::new();
    let bin = root().join("src/bin");
    let single = bin.join("numhubctl.rs");
    if single.is_file() {
        files.push(single);
    }
    if bin.join("numhubctl").is_dir() {
        rust_files(&bin.join("numhubctl"), &mut files);
    }
    assert!(!files.is_empty(), "numhubctl's sources are under src/bin");
    let mut spelled = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        for literal in string_literals(&text) {
            if names.contains(literal.as_str()) {
                let at = file.strip_prefix(root()).unwrap_or(&file).display();
                spelled.push(format!("{at}: \"{literal}\""));
            }
        }
    }
    assert!(
        spelled.is_empty(),
        "method names spelled in numhubctl:\n{}",
        spelled.join("\n")
    );
    assert_eq!(
        string_literals("let a = \"x.y\"; // \"no\"\n// \"z\"\nf(r#\"q\"r\"#, \"e\\\"\");"),
        ["x.y", "q\"r", "e\\\""]
    );
}
