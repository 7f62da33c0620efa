//! Sets `KWIRE_VERSION`, what `kwire --version` prints after the name: the
//! package version, and in release builds made from a git checkout of kwire
//! the commit and its date, `0.1.0 (d94e86b 2026-05-01)`.
//!
//! Release builds only: a build script that watches git makes cargo rebuild
//! the whole package (the library and every test binary) each time HEAD
//! moves, which in debug builds would be one full rebuild per commit for
//! nothing. `cargo install --path .` and `scripts/demo` build release, so
//! the binaries people report from carry the commit. Outside a checkout of
//! kwire's own repository (a source archive, a crate inside some other
//! repository) the version is the package version alone. Uses only `git`
//! if present: no build dependency.

use std::path::Path;
use std::process::Command;

fn main() {
    let version = env("CARGO_PKG_VERSION");
    println!("cargo:rerun-if-changed=build.rs");
    let commit = if env("PROFILE") == "release" {
        commit()
    } else {
        None
    };
    match commit {
        Some(commit) => println!("cargo:rustc-env=KWIRE_VERSION={version} ({commit})"),
        None => println!("cargo:rustc-env=KWIRE_VERSION={version}"),
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

/// `d94e86b 2026-05-01`, having told cargo which git files to watch so the
/// next commit or checkout reruns this script; `None` when this package is
/// not the top of a git checkout or git is missing.
fn commit() -> Option<String> {
    let root = Path::new(&env("CARGO_MANIFEST_DIR")).canonicalize().ok()?;
    let top = git(&root, &["rev-parse", "--show-toplevel"])?;
    if Path::new(&top).canonicalize().ok()? != root {
        return None;
    }
    let commit = git(&root, &["log", "-1", "--format=%h %cd", "--date=short"])?;
    // HEAD (per worktree), the branch it names, and packed-refs, those that
    // exist: cargo reruns a build script every time for a missing path.
    let mut watch = vec![git(&root, &["rev-parse", "--git-path", "HEAD"])?];
    if let Some(branch) = git(&root, &["symbolic-ref", "-q", "HEAD"]) {
        watch.extend(git(&root, &["rev-parse", "--git-path", &branch]));
    }
    watch.extend(git(&root, &["rev-parse", "--git-path", "packed-refs"]));
    for path in watch {
        if root.join(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    Some(commit)
}

/// The trimmed standard output of a successful `git ARGS` run in `dir`.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_owned())
}
