//! The key table: every key the UI answers to, what it does and where. The
//! dispatcher and the help screen both read it, so help cannot drift from
//! behaviour.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Scroll wide rows sideways.
    Left,
    Right,
    /// Open the selection (detail of an exchange, a group's flow, a
    /// connection's exchanges).
    Open,
    /// Close the detail, the help or the prompt; leave a pane.
    Back,
    NextView,
    PrevView,
    /// Switch to the view with this number (1-based).
    View(u8),
    Filter,
    ClearFilter,
    NextError,
    PrevError,
    Follow,
    Pause,
    TimeMode,
    Export,
    /// Charts: all / by API / by broker.
    Split,
    Help,
    Quit,
}

/// Where a binding applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everywhere (except while typing in a prompt).
    Global,
    /// Lists: the timeline, connections, groups, stats.
    Lists,
    Timeline,
    Charts,
}

impl Scope {
    pub fn title(self) -> &'static str {
        match self {
            Scope::Global => "Everywhere",
            Scope::Lists => "Lists",
            Scope::Timeline => "Timeline",
            Scope::Charts => "Charts",
        }
    }
}

/// A key as the table writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Ctrl(char),
    Code(KeyCode),
}

impl Key {
    pub fn matches(self, e: &KeyEvent) -> bool {
        let ctrl = e.modifiers.contains(KeyModifiers::CONTROL);
        match self {
            Key::Char(c) => !ctrl && e.code == KeyCode::Char(c),
            Key::Ctrl(c) => ctrl && e.code == KeyCode::Char(c),
            Key::Code(k) => e.code == k,
        }
    }

    pub fn label(self) -> String {
        match self {
            Key::Char(' ') => "space".to_string(),
            Key::Char(c) => c.to_string(),
            Key::Ctrl(c) => format!("Ctrl-{c}"),
            Key::Code(k) => match k {
                KeyCode::Up => "↑".into(),
                KeyCode::Down => "↓".into(),
                KeyCode::Left => "←".into(),
                KeyCode::Right => "→".into(),
                KeyCode::PageUp => "PgUp".into(),
                KeyCode::PageDown => "PgDn".into(),
                KeyCode::Home => "Home".into(),
                KeyCode::End => "End".into(),
                KeyCode::Enter => "Enter".into(),
                KeyCode::Esc => "Esc".into(),
                KeyCode::Tab => "Tab".into(),
                KeyCode::BackTab => "Shift-Tab".into(),
                other => format!("{other:?}"),
            },
        }
    }
}

/// One row of the key table.
#[derive(Clone, Copy, Debug)]
pub struct Binding {
    pub keys: &'static [Key],
    pub action: Action,
    pub scope: Scope,
    pub help: &'static str,
}

use Key::{Char, Code, Ctrl};

/// Every binding, in the order help lists them.
pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: &[Char('j'), Code(KeyCode::Down)],
        action: Action::Down,
        scope: Scope::Lists,
        help: "next row",
    },
    Binding {
        keys: &[Char('k'), Code(KeyCode::Up)],
        action: Action::Up,
        scope: Scope::Lists,
        help: "previous row",
    },
    Binding {
        keys: &[Code(KeyCode::PageDown), Ctrl('d')],
        action: Action::PageDown,
        scope: Scope::Lists,
        help: "page down",
    },
    Binding {
        keys: &[Code(KeyCode::PageUp), Ctrl('u')],
        action: Action::PageUp,
        scope: Scope::Lists,
        help: "page up",
    },
    Binding {
        keys: &[Char('g'), Code(KeyCode::Home)],
        action: Action::Top,
        scope: Scope::Lists,
        help: "first row",
    },
    Binding {
        keys: &[Char('G'), Code(KeyCode::End)],
        action: Action::Bottom,
        scope: Scope::Lists,
        help: "last row",
    },
    Binding {
        keys: &[Char('h'), Code(KeyCode::Left)],
        action: Action::Left,
        scope: Scope::Lists,
        help: "scroll wide rows left; in Charts the previous bucket",
    },
    Binding {
        keys: &[Char('l'), Code(KeyCode::Right)],
        action: Action::Right,
        scope: Scope::Lists,
        help: "scroll wide rows right (… marks a row that goes on); in Charts the next bucket",
    },
    Binding {
        keys: &[Code(KeyCode::Enter)],
        action: Action::Open,
        scope: Scope::Lists,
        help: "open: exchange detail, group flow, connection's exchanges, a chart bucket's exchanges",
    },
    Binding {
        keys: &[Code(KeyCode::Esc)],
        action: Action::Back,
        scope: Scope::Global,
        help: "back: close detail, help or pane",
    },
    Binding {
        keys: &[Code(KeyCode::Tab)],
        action: Action::NextView,
        scope: Scope::Global,
        help: "next view",
    },
    Binding {
        keys: &[Code(KeyCode::BackTab)],
        action: Action::PrevView,
        scope: Scope::Global,
        help: "previous view",
    },
    Binding {
        keys: &[Char('1')],
        action: Action::View(1),
        scope: Scope::Global,
        help: "timeline",
    },
    Binding {
        keys: &[Char('2')],
        action: Action::View(2),
        scope: Scope::Global,
        help: "connections",
    },
    Binding {
        keys: &[Char('3')],
        action: Action::View(3),
        scope: Scope::Global,
        help: "consumer groups",
    },
    Binding {
        keys: &[Char('4')],
        action: Action::View(4),
        scope: Scope::Global,
        help: "statistics",
    },
    Binding {
        keys: &[Char('5')],
        action: Action::View(5),
        scope: Scope::Global,
        help: "findings: what went wrong",
    },
    Binding {
        keys: &[Char('6')],
        action: Action::View(6),
        scope: Scope::Global,
        help: "charts: requests, latency and errors over time",
    },
    Binding {
        keys: &[Char('/')],
        action: Action::Filter,
        scope: Scope::Timeline,
        help: "filter (api:Fetch topic:orders err lat>50ms …; Enter applies, Esc cancels)",
    },
    Binding {
        keys: &[Char('c')],
        action: Action::ClearFilter,
        scope: Scope::Timeline,
        help: "clear the filter",
    },
    Binding {
        keys: &[Char('n')],
        action: Action::NextError,
        scope: Scope::Timeline,
        help: "next error or unanswered request",
    },
    Binding {
        keys: &[Char('N')],
        action: Action::PrevError,
        scope: Scope::Timeline,
        help: "previous error or unanswered request",
    },
    Binding {
        keys: &[Char('f')],
        action: Action::Follow,
        scope: Scope::Timeline,
        help: "follow: keep the newest exchange selected (live tail)",
    },
    Binding {
        keys: &[Char(' ')],
        action: Action::Pause,
        scope: Scope::Timeline,
        help: "pause/resume the display (capture goes on)",
    },
    Binding {
        keys: &[Char('t')],
        action: Action::TimeMode,
        scope: Scope::Timeline,
        help: "time: absolute / since previous / since start",
    },
    Binding {
        keys: &[Char('w')],
        action: Action::Export,
        scope: Scope::Timeline,
        help: "write the filtered exchanges as NDJSON",
    },
    Binding {
        keys: &[Char('b')],
        action: Action::Split,
        scope: Scope::Charts,
        help: "all / by API / by broker (j k ↑ ↓ choose the chart Enter filters for; G the newest bucket, following a live capture again)",
    },
    Binding {
        keys: &[Char('?')],
        action: Action::Help,
        scope: Scope::Global,
        help: "this help",
    },
    Binding {
        keys: &[Char('q'), Ctrl('c')],
        action: Action::Quit,
        scope: Scope::Global,
        help: "quit",
    },
];

/// The action of `e` in a list, or in the timeline when `timeline`.
pub fn action(e: &KeyEvent, timeline: bool) -> Option<Action> {
    action_in(
        e,
        if timeline {
            Scope::Timeline
        } else {
            Scope::Lists
        },
    )
}

/// The action of `e` in a view of `scope` (the timeline and the charts
/// take the lists' keys too).
pub fn action_in(e: &KeyEvent, scope: Scope) -> Option<Action> {
    BINDINGS
        .iter()
        .filter(|b| matches!(b.scope, Scope::Global | Scope::Lists) || b.scope == scope)
        .find(|b| b.keys.iter().any(|k| k.matches(e)))
        .map(|b| b.action)
}

/// `j ↓` for a binding's keys.
pub fn keys_label(b: &Binding) -> String {
    b.keys
        .iter()
        .map(|k| k.label())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_is_bound_twice_in_one_scope() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in &BINDINGS[i + 1..] {
                for k in a.keys {
                    assert!(
                        !b.keys.contains(k),
                        "{k:?} bound to {:?} and {:?}",
                        a.action,
                        b.action
                    );
                }
            }
        }
    }

    #[test]
    fn keys_map_to_actions() {
        let k = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        assert_eq!(action(&k('j'), true), Some(Action::Down));
        assert_eq!(action(&k('n'), true), Some(Action::NextError));
        assert_eq!(action(&k('n'), false), None);
        assert_eq!(action(&k('3'), false), Some(Action::View(3)));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action(&ctrl_c, true), Some(Action::Quit));
        assert_eq!(action(&k('c'), true), Some(Action::ClearFilter));
        // Charts' keys only there.
        assert_eq!(action(&k('b'), true), None);
        assert_eq!(action_in(&k('b'), Scope::Charts), Some(Action::Split));
        assert_eq!(action_in(&k('l'), Scope::Charts), Some(Action::Right));
        assert_eq!(action_in(&k('j'), Scope::Charts), Some(Action::Down));
        assert_eq!(action_in(&k('n'), Scope::Charts), None);
    }
}
