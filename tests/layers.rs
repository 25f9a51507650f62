//! The rooms of `src/` import only rooms below them (the crate doc's layout
//! map): a `crate::<room>` path in a file of a lower room fails this test,
//! naming the file and line, so an upward import or a cycle cannot creep in.

use std::path::Path;

/// Each room and the rooms it may use (besides itself).
const ROOMS: &[(&str, &[&str])] = &[
    ("sse", &[]),
    ("client", &["sse"]),
    ("metrics", &["sse", "client"]),
    ("load", &[]),
    ("faults", &[]),
    ("server", &[]),
    ("signals", &[]),
    (
        "scenario",
        &["sse", "client", "metrics", "load", "faults", "server"],
    ),
    (
        "report",
        &[
            "sse", "client", "metrics", "load", "faults", "server", "scenario",
        ],
    ),
    (
        "engine",
        &[
            "sse", "client", "metrics", "load", "faults", "server", "signals", "scenario",
            "report", "error",
        ],
    ),
];

const ALL: &[&str] = &[
    "sse", "client", "metrics", "load", "faults", "server", "signals", "scenario", "report",
    "engine", "commands", "cli", "error",
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn rooms_import_only_rooms_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    let mut files_checked = 0;
    for (room, allowed) in ROOMS {
        let mut files = Vec::new();
        let single = src.join(format!("{room}.rs"));
        if single.exists() {
            files.push(single);
        }
        rust_files(&src.join(room), &mut files);
        assert!(!files.is_empty(), "room {room} has files");
        for file in files {
            files_checked += 1;
            let text = std::fs::read_to_string(&file).expect("read source");
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                for other in ALL {
                    if other == room || allowed.contains(other) {
                        continue;
                    }
                    let needle = format!("crate::{other}");
                    let hit = code.match_indices(&needle).any(|(i, _)| {
                        !code[i + needle.len()..]
                            .starts_with(|c: char| c.is_alphanumeric() || c == '_')
                    });
                    if hit {
                        violations.push(format!(
                            "{}:{}: {room} imports {other}: {}",
                            file.strip_prefix(&src).unwrap_or(&file).display(),
                            n + 1,
                            line.trim()
                        ));
                    }
                }
            }
        }
    }
    assert!(files_checked > 40, "only {files_checked} files checked");
    assert!(
        violations.is_empty(),
        "upward imports:\n{}",
        violations.join("\n")
    );
}
