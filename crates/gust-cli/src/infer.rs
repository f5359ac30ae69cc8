//! Defaults `gust deploy` infers from what it is given: the function's name, its
//! runtime and its handler. Pure functions over names, so every rule is unit-tested.

use std::path::Path;

/// Runtime for Python sources and a Python-looking project.
pub const PYTHON: &str = "python3.11";
/// Runtime for JavaScript sources and a Node-looking project.
pub const NODEJS: &str = "nodejs20.x";
/// Runtime for an archive with a `bootstrap` executable.
pub const PROVIDED: &str = "provided.al2023";

/// The longest function name the Lambda API accepts.
const MAX_NAME: usize = 64;

/// What `gust deploy PATH` points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A ready zip archive, sent as is.
    Zip,
    /// One source file, zipped under its basename.
    File,
    /// A directory, zipped recursively.
    Dir,
}

impl SourceKind {
    fn noun(self) -> &'static str {
        match self {
            SourceKind::Zip => "archive",
            SourceKind::File => "file",
            SourceKind::Dir => "directory",
        }
    }
}

/// Turns a file or directory name into a valid function name: characters outside
/// `[A-Za-z0-9_-]` become `-`, runs of `-` collapse, and the result is cut to 64.
/// `None` when nothing usable is left.
pub fn sanitize_name(raw: &str) -> Option<String> {
    let mut out = String::new();
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            c
        } else {
            '-'
        };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    let trimmed: String = out.trim_matches('-').chars().take(MAX_NAME).collect();
    let trimmed = trimmed.trim_end_matches('-').to_string();
    (!trimmed.is_empty()).then_some(trimmed)
}

/// The name a deploy gets when `--name` is not given: the file stem, or the
/// directory's own name (`path` should be canonical, so `.` has one).
pub fn default_name(path: &Path, kind: SourceKind) -> Result<String, String> {
    let raw = match kind {
        SourceKind::Dir => path.file_name(),
        SourceKind::Zip | SourceKind::File => path.file_stem(),
    };
    raw.and_then(|n| n.to_str())
        .and_then(sanitize_name)
        .ok_or_else(|| {
            format!(
                "cannot make a function name from {}; pass --name NAME (letters, digits, - and _)",
                path.display()
            )
        })
}

fn extension(file: &str) -> &str {
    Path::new(file)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
}

fn stem(file: &str) -> &str {
    Path::new(file)
        .file_stem()
        .and_then(|e| e.to_str())
        .unwrap_or(file)
}

/// The runtime whose sources have this extension.
fn runtime_of_extension(ext: &str) -> Option<&'static str> {
    match ext {
        "py" => Some(PYTHON),
        "js" | "mjs" | "cjs" => Some(NODEJS),
        _ => None,
    }
}

/// Source extensions a managed runtime loads handlers from.
fn handler_extensions(runtime: &str) -> Option<&'static [&'static str]> {
    if runtime.starts_with("python") {
        Some(&["py"])
    } else if runtime.starts_with("nodejs") {
        Some(&["js", "mjs", "cjs"])
    } else {
        None
    }
}

/// Whether the runtime runs the archive's own `bootstrap` and so needs no handler.
pub fn is_provided(runtime: &str) -> bool {
    runtime.starts_with("provided")
}

/// Infers the runtime. `top_level` holds the names of the files at the top of the
/// archive (for a single file, just its basename).
pub fn infer_runtime(
    kind: SourceKind,
    shown_as: &str,
    top_level: &[String],
) -> Result<&'static str, String> {
    let ask = "pass --runtime (python3.11, nodejs20.x or provided.al2023)";
    if top_level.iter().any(|f| f == "bootstrap") {
        return Ok(PROVIDED);
    }
    if kind == SourceKind::File {
        let file = top_level.first().map(String::as_str).unwrap_or(shown_as);
        return runtime_of_extension(extension(file)).ok_or_else(|| {
            format!("cannot tell the runtime of {shown_as} from its extension; {ask}")
        });
    }
    let mut found: Vec<&'static str> = top_level
        .iter()
        .filter_map(|f| runtime_of_extension(extension(f)))
        .collect();
    found.sort_unstable();
    found.dedup();
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "cannot tell the runtime of {}{shown_as}: it has no bootstrap and no top-level \
             .py or .js file; {ask}",
            the(kind)
        )),
        _ => Err(format!(
            "cannot tell the runtime of {}{shown_as}: it has both .py and .js files at the \
             top level; {ask}",
            the(kind)
        )),
    }
}

fn the(kind: SourceKind) -> String {
    format!("{} ", kind.noun())
}

/// Infers the handler: `None` for provided runtimes, `module.handler` when exactly one
/// top-level source file fits the runtime.
pub fn infer_handler(
    runtime: &str,
    kind: SourceKind,
    shown_as: &str,
    top_level: &[String],
) -> Result<Option<String>, String> {
    if is_provided(runtime) {
        return Ok(None);
    }
    let Some(exts) = handler_extensions(runtime) else {
        return Err(format!(
            "gust cannot guess a handler for runtime {runtime}; pass --handler"
        ));
    };
    if kind == SourceKind::File {
        if let Some(file) = top_level.first() {
            return Ok(Some(format!("{}.handler", stem(file))));
        }
    }
    let candidates: Vec<&String> = top_level
        .iter()
        .filter(|f| exts.contains(&extension(f)))
        .collect();
    let dotted = exts
        .iter()
        .map(|e| format!(".{e}"))
        .collect::<Vec<_>>()
        .join("/");
    match candidates.as_slice() {
        [one] => Ok(Some(format!("{}.handler", stem(one)))),
        [] => Err(format!(
            "{}{shown_as} has no top-level {dotted} file to take the handler from; \
             pass --handler MODULE.FUNCTION",
            the(kind)
        )),
        many => Err(format!(
            "{}{shown_as} has several top-level {dotted} files ({}); pass --handler \
             MODULE.FUNCTION, e.g. --handler {}.handler",
            the(kind),
            many.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            stem(many[0])
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_are_sanitised() {
        assert_eq!(sanitize_name("hello").as_deref(), Some("hello"));
        assert_eq!(sanitize_name("my app.v2").as_deref(), Some("my-app-v2"));
        assert_eq!(sanitize_name("__init__").as_deref(), Some("__init__"));
        assert_eq!(
            sanitize_name("..weird!!name..").as_deref(),
            Some("weird-name")
        );
        assert_eq!(sanitize_name("héllo").as_deref(), Some("h-llo"));
        assert_eq!(sanitize_name("..."), None);
        assert_eq!(sanitize_name(""), None);
        let long = "a".repeat(100);
        assert_eq!(sanitize_name(&long).unwrap().len(), 64);
        // A cut must not leave a dangling separator.
        let edge = format!("{}-b", "a".repeat(63));
        assert_eq!(sanitize_name(&edge).unwrap(), "a".repeat(63));
    }

    #[test]
    fn default_names_come_from_stem_or_dir() {
        let file = default_name(Path::new("/src/app.py"), SourceKind::File);
        assert_eq!(file.as_deref(), Ok("app"));
        let zip = default_name(Path::new("build/my func.zip"), SourceKind::Zip);
        assert_eq!(zip.as_deref(), Ok("my-func"));
        let dir = default_name(Path::new("/home/me/image.resize"), SourceKind::Dir);
        assert_eq!(dir.as_deref(), Ok("image-resize"));
        let root = default_name(Path::new("/"), SourceKind::Dir).unwrap_err();
        assert!(root.contains("--name"), "{root}");
    }

    #[test]
    fn runtime_of_single_files() {
        let rt = |f: &str| infer_runtime(SourceKind::File, f, &names(&[f]));
        assert_eq!(rt("app.py"), Ok(PYTHON));
        assert_eq!(rt("index.js"), Ok(NODEJS));
        assert_eq!(rt("index.mjs"), Ok(NODEJS));
        assert_eq!(rt("index.cjs"), Ok(NODEJS));
        assert_eq!(rt("bootstrap"), Ok(PROVIDED));
        assert!(rt("main.go").unwrap_err().contains("--runtime"));
    }

    #[test]
    fn runtime_of_directories_and_archives() {
        let rt = |kind, files: &[&str]| infer_runtime(kind, "x", &names(files));
        assert_eq!(rt(SourceKind::Dir, &["bootstrap", "app.py"]), Ok(PROVIDED));
        assert_eq!(rt(SourceKind::Zip, &["bootstrap"]), Ok(PROVIDED));
        assert_eq!(rt(SourceKind::Dir, &["a.py", "b.py", "README"]), Ok(PYTHON));
        assert_eq!(
            rt(SourceKind::Zip, &["index.mjs", "package.json"]),
            Ok(NODEJS)
        );
        assert!(rt(SourceKind::Dir, &["a.py", "b.js"])
            .unwrap_err()
            .contains("both"));
        assert!(rt(SourceKind::Dir, &["README"])
            .unwrap_err()
            .contains("--runtime"));
    }

    #[test]
    fn handlers() {
        let h = |rt, kind, files: &[&str]| infer_handler(rt, kind, "x", &names(files));
        assert_eq!(
            h(PYTHON, SourceKind::File, &["app.py"]),
            Ok(Some("app.handler".into()))
        );
        assert_eq!(
            h(NODEJS, SourceKind::Dir, &["index.js", "package.json"]),
            Ok(Some("index.handler".into()))
        );
        assert_eq!(h(PROVIDED, SourceKind::Dir, &["bootstrap"]), Ok(None));
        assert_eq!(h("provided.al2", SourceKind::Zip, &[]), Ok(None));
        let many = h(PYTHON, SourceKind::Dir, &["a.py", "b.py"]).unwrap_err();
        assert!(
            many.contains("a.py, b.py") && many.contains("--handler a.handler"),
            "{many}"
        );
        let none = h(PYTHON, SourceKind::Dir, &["index.js"]).unwrap_err();
        assert!(none.contains("no top-level .py file"), "{none}");
        let other = h("java21", SourceKind::Zip, &["x.jar"]).unwrap_err();
        assert!(other.contains("--handler"), "{other}");
    }
}
