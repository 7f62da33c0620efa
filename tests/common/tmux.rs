//! A tmux session running the real `kwire` binary, for the end-to-end tests
//! of the terminal UI (`tests/tui_tmux.rs`, `tests/tui_matrix.rs`).
//!
//! Every session runs on a tmux server of its own (`kwire-test-<pid>-<n>`,
//! no user configuration) of a fixed size, with `TERM=xterm-256color`, and
//! is killed with its server and socket on drop, passed or failed. Waits are
//! for what is expected on the screen, up to [`DEADLINE`]; nothing is read
//! after a fixed sleep.
//!
//! kwire runs under `sh -c` so that its exit status, the terminal modes it
//! leaves (`stty -a`) and what the pane shows after it can be checked; the
//! pane then waits in `cat` until the session is killed.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The help box's title, which is on the screen while the help is open.
pub const HELP_TITLE: &str = "Help: j/k scroll";

/// How long a test waits for the screen it expects (a busy 2-core machine).
pub const DEADLINE: Duration = Duration::from_secs(20);

pub fn require_all() -> bool {
    std::env::var("KWIRE_REQUIRE_LIVE").as_deref() == Ok("1")
}

/// Print why a test cannot run and pass, or fail under `KWIRE_REQUIRE_LIVE=1`.
pub fn skip_or_fail(test: &str, reason: &str) {
    if require_all() {
        panic!("{test} cannot run: {reason}");
    }
    eprintln!("SKIPPED {test}: {reason}");
}

pub fn have_tmux() -> bool {
    Command::new("tmux")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `s` as one word for `sh`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

static SESSIONS: AtomicUsize = AtomicUsize::new(0);

/// A tmux session running kwire; killed on drop.
pub struct Tmux {
    /// The server's socket name (`tmux -L`): one server per session, so
    /// that it can be killed and its socket removed with the session.
    pub socket: String,
    /// Its socket file, removed on drop.
    socket_path: Option<PathBuf>,
    pub name: String,
    /// Where the wrapper writes kwire's exit status and `stty -a` after it.
    dir: tempfile::TempDir,
    /// Keys sent so far.
    pub keys: usize,
}

impl Tmux {
    /// Start `kwire ARGS` in a new `width`×`height` session.
    pub fn start(width: u16, height: u16, args: &[&str]) -> Tmux {
        let n = SESSIONS.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let dir = tempfile::tempdir().unwrap();
        let kwire = std::iter::once(env!("CARGO_BIN_EXE_kwire"))
            .chain(args.iter().copied())
            .map(sh_quote)
            .collect::<Vec<_>>()
            .join(" ");
        let d = dir.path().display().to_string();
        // NO_COLOR off: the selected row's reverse video is what test 2
        // reads, and the colours are part of what a user sees.
        let script = format!(
            "env -u NO_COLOR TERM=xterm-256color {kwire}; echo EXIT=$? > {exit}; \
             stty -a > {stty}; echo KWIRE-EXITED; exec cat",
            exit = sh_quote(&format!("{d}/exit")),
            stty = sh_quote(&format!("{d}/stty")),
        );
        let mut t = Tmux {
            socket: format!("kwire-test-{pid}-{n}"),
            socket_path: None,
            name: format!("kwire-test-{pid}-{n}"),
            dir,
            keys: 0,
        };
        let out = t
            .tmux()
            .args(["new-session", "-d", "-s", &t.name, "-x"])
            .arg(width.to_string())
            .arg("-y")
            .arg(height.to_string())
            .args(["sh", "-c", &script])
            .output()
            .expect("tmux runs");
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t.socket_path = Some(PathBuf::from(t.display("#{socket_path}")));
        let size = t.display("#{window_width}x#{window_height}");
        assert_eq!(size, format!("{width}x{height}"), "session size");
        t
    }

    /// `tmux` on this session's own server, without user configuration.
    pub fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]);
        c
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = self.tmux().args(args).output().expect("tmux runs");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A format of the pane (`#{alternate_on}`, …).
    pub fn display(&self, format: &str) -> String {
        self.run(&["display-message", "-p", "-t", &self.name, format])
            .trim()
            .to_string()
    }

    /// The screen as text.
    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", &self.name])
    }

    /// The screen with its attributes as escape sequences.
    pub fn screen_escaped(&self) -> String {
        self.run(&["capture-pane", "-p", "-e", "-t", &self.name])
    }

    /// Type one key as text (`3`, `?`, `n`).
    pub fn key(&mut self, k: &str) {
        self.run(&["send-keys", "-t", &self.name, "-l", k]);
        self.keys += 1;
    }

    /// Press a named key (`Enter`, `Escape`).
    pub fn press(&mut self, k: &str) {
        self.run(&["send-keys", "-t", &self.name, k]);
        self.keys += 1;
    }

    /// Wait until the screen satisfies `ok` and is still: the same in two
    /// captures a moment apart (a capture taken while the UI redraws can
    /// hold half of the old frame and half of the new). The screen it
    /// held; fails with the last screen at the deadline.
    pub fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                std::thread::sleep(Duration::from_millis(80));
                if self.screen() == s {
                    return s;
                }
                continue;
            }
            if t0.elapsed() > DEADLINE {
                panic!("timed out after {DEADLINE:?} waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// [`Tmux::wait_for`] on the screen with its attributes too (the
    /// selected row is in reverse video, which the text alone does not
    /// show): `ok(text, escaped)`, held still in two captures a moment
    /// apart. Both forms of the screen it held; fails with the last screen
    /// at the deadline.
    pub fn wait_escaped(&self, what: &str, ok: impl Fn(&str, &str) -> bool) -> (String, String) {
        self.try_wait_escaped(ok).unwrap_or_else(|s| {
            panic!("timed out after {DEADLINE:?} waiting for {what}; screen:\n{s}")
        })
    }

    /// [`Tmux::wait_escaped`], the last screen as `Err` at the deadline
    /// (for a test that reports it as a failed property).
    pub fn try_wait_escaped(
        &self,
        ok: impl Fn(&str, &str) -> bool,
    ) -> Result<(String, String), String> {
        let t0 = Instant::now();
        loop {
            let e = self.screen_escaped();
            let s = self.screen();
            if ok(&s, &e) {
                std::thread::sleep(Duration::from_millis(80));
                if self.screen_escaped() == e && self.screen() == s {
                    return Ok((s, e));
                }
                continue;
            }
            if t0.elapsed() > DEADLINE {
                return Err(s);
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Wait until kwire has handled every key sent so far, whether or not
    /// they changed the screen: `?` opens the help, then `?` closes it
    /// (keys are handled in order, and opening and closing the help leaves
    /// everything else as it was). Not while the help or a prompt is open.
    pub fn sync(&mut self) {
        self.key("?");
        self.wait_for("the help (sync)", |s| s.contains(HELP_TITLE));
        self.key("?");
        self.wait_for("the help closed (sync)", |s| !s.contains(HELP_TITLE));
    }

    /// Wait until a file has been read (`loaded` in the status bar, no
    /// "reading…").
    pub fn wait_loaded(&self, loaded: &str) -> String {
        self.wait_for(
            &format!("status bar {loaded:?} without \"reading…\""),
            |s| {
                let status = last_line(s);
                status.contains(loaded) && !status.contains("reading")
            },
        )
    }

    /// Wait until kwire has exited; its exit status.
    pub fn wait_exit(&self) -> i32 {
        let f = self.dir.path().join("exit");
        let t0 = Instant::now();
        loop {
            if let Ok(s) = std::fs::read_to_string(&f)
                && let Some(code) = s.trim().strip_prefix("EXIT=")
            {
                return code.parse().unwrap();
            }
            if t0.elapsed() > DEADLINE {
                panic!(
                    "kwire did not exit within {DEADLINE:?}; screen:\n{}",
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// After kwire exited: the terminal is back in normal mode: main screen
    /// (the UI gone from it), cursor shown, line discipline cooked with echo.
    pub fn assert_terminal_restored(&self) {
        let screen = self.wait_for("the shell after kwire", |s| s.contains("KWIRE-EXITED"));
        assert!(
            !screen.contains("1 Timeline"),
            "the UI is still on the screen after exit:\n{screen}"
        );
        assert_eq!(
            self.display("#{alternate_on}"),
            "0",
            "alternate screen left"
        );
        assert_eq!(self.display("#{cursor_flag}"), "1", "cursor shown");
        assert_eq!(
            self.display("#{pane_current_command}"),
            "cat",
            "kwire is gone, the wrapper waits"
        );
        let stty = self.stty();
        let flags: BTreeSet<&str> = stty.split_whitespace().collect();
        for f in ["icanon", "echo", "isig", "icrnl", "opost"] {
            assert!(
                flags.contains(f),
                "terminal left without {f} (raw mode?): {stty}"
            );
        }
    }

    fn stty(&self) -> String {
        let f = self.dir.path().join("stty");
        let t0 = Instant::now();
        loop {
            if let Ok(s) = std::fs::read_to_string(&f)
                && s.contains("icanon")
            {
                return s;
            }
            assert!(t0.elapsed() < DEADLINE, "no stty output");
            std::thread::sleep(Duration::from_millis(30));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self
            .tmux()
            .arg("kill-server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(p) = &self.socket_path {
            let _ = std::fs::remove_file(p);
        }
    }
}

pub fn last_line(screen: &str) -> &str {
    screen.trim_end_matches('\n').lines().last().unwrap_or("")
}

/// The selected row of an escaped screen: the line (below the header) whose
/// characters are mostly drawn in reverse video, as text. SGR state carries
/// over line ends in tmux's output, so the whole screen is parsed.
pub fn selected_row(escaped: &str) -> Option<String> {
    let mut reverse = false;
    let mut rows: Vec<(String, usize)> = vec![(String::new(), 0)];
    let mut chars = escaped.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' if chars.peek() == Some(&'[') => {
                chars.next();
                let mut params = String::new();
                let mut end = ' ';
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        end = c;
                        break;
                    }
                    params.push(c);
                }
                if end != 'm' {
                    continue;
                }
                let ps: Vec<&str> = params.split(';').collect();
                let mut i = 0;
                while i < ps.len() {
                    match ps[i] {
                        "" | "0" => reverse = false,
                        "7" => reverse = true,
                        "27" => reverse = false,
                        "38" | "48" | "58" => {
                            // 38;5;N or 38;2;R;G;B
                            i += if ps.get(i + 1) == Some(&"2") { 4 } else { 2 };
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            '\n' => rows.push((String::new(), 0)),
            c => {
                let row = rows.last_mut().unwrap();
                row.0.push(c);
                if reverse {
                    row.1 += 1;
                }
            }
        }
    }
    rows.into_iter()
        .skip(1) // the header's view tabs are reversed too
        .find(|(text, rev)| *rev > 0 && *rev * 2 > text.chars().count())
        .map(|(text, _)| text)
}

/// The frame number at the start of a timeline row.
pub fn frame_of(row: &str) -> Option<u64> {
    row.split_whitespace().next()?.parse().ok()
}
