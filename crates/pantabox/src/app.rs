//! The screens of pantabox and what each key does: the main menu of the
//! original's Pantabox, pickers, forms, confirmations, the progress of an
//! update and a live log tail. Drawing is in [`crate::ui`]; device work in
//! [`crate::device`].

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::device::{self, Progress, PvBox};

/// The main menu: key, name, what it does.
pub const MENU: [(char, &str, &str); 10] = [
    ('v', "view", "the running revision and its containers"),
    ('n', "info", "device and user metadata, mode"),
    (
        'i',
        "install",
        "install an app from a container image or a rootfs",
    ),
    ('r', "remove", "remove an app from the running revision"),
    (
        'e',
        "edit",
        "edit the running revision's state and commit it",
    ),
    ('g', "goto", "run a revision the device has"),
    ('u', "update", "update the BSP from a package"),
    ('c', "claim", "register and claim the device on its hub"),
    ('l', "logs", "live logs of a container or of pantavisor"),
    ('q', "quit", "leave pantabox"),
];

/// What a picker's choice leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickFor {
    Remove,
    Goto,
    Logs,
}

/// What a form's values lead to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormFor {
    Install,
    Update,
}

/// One screen.
#[derive(Debug, Clone)]
pub enum Screen {
    Menu,
    Text {
        title: String,
        lines: Vec<String>,
        scroll: u16,
    },
    Pick {
        title: String,
        items: Vec<(String, String)>,
        sel: usize,
        then: PickFor,
    },
    Form {
        title: String,
        fields: Vec<(String, String)>,
        focus: usize,
        then: FormFor,
    },
    /// "Do you want to run it now?" for a new revision.
    RunNow {
        rev: String,
        what: String,
    },
    Progress {
        rev: String,
        last: Progress,
    },
    Logs {
        title: String,
        path: PathBuf,
        lines: Vec<String>,
    },
}

/// The application: one screen at a time over the menu.
pub struct App {
    pub pv: PvBox,
    pub screen: Screen,
    pub menu_sel: usize,
    /// The status bar: revision, its status, mode.
    pub header: String,
    /// The last outcome, shown at the bottom.
    pub message: String,
    pub quit: bool,
    /// Set when the editor must run (the terminal is handed over).
    pub edit_request: bool,
    last_poll: Instant,
}

fn err_text(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

impl App {
    pub fn new(pv: PvBox) -> App {
        let mut a = App {
            pv,
            screen: Screen::Menu,
            menu_sel: 0,
            header: String::new(),
            message: String::new(),
            quit: false,
            edit_request: false,
            last_poll: Instant::now() - Duration::from_secs(10),
        };
        a.tick();
        a
    }

    /// Refresh what changes by itself: the header, a progress, a log tail.
    pub fn tick(&mut self) {
        if self.last_poll.elapsed() < Duration::from_millis(400) {
            return;
        }
        self.last_poll = Instant::now();
        self.header = match self.pv.device_meta() {
            Ok(meta) => {
                let get = |k: &str| {
                    meta.iter()
                        .find(|(m, _)| m == k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                let rev = get("pantavisor.revision");
                let status = self.pv.progress(&rev).map(|p| p.status).unwrap_or_default();
                format!(
                    "{rev}[{status}] == pantavisor == mode: {}",
                    get("pantavisor.mode").to_uppercase()
                )
            }
            Err(e) => format!("device unreachable: {}", err_text(&e)),
        };
        match &mut self.screen {
            Screen::Progress { rev, last } => {
                if let Ok(p) = self.pv.progress(rev) {
                    *last = p;
                }
            }
            Screen::Logs { path, lines, .. } => *lines = device::tail(path, 500),
            _ => {}
        }
    }

    fn text(&mut self, title: &str, lines: Vec<String>) {
        self.screen = Screen::Text {
            title: title.to_string(),
            lines,
            scroll: 0,
        };
    }

    /// Run the menu entry `name`.
    pub fn open(&mut self, name: &str) {
        self.message.clear();
        let r = match name {
            "view" => self.view(),
            "info" => self.info(),
            "install" => {
                self.screen = Screen::Form {
                    title: "install an app".into(),
                    fields: vec![
                        ("name".into(), String::new()),
                        ("from (image or rootfs)".into(), String::new()),
                        ("group".into(), String::new()),
                    ],
                    focus: 0,
                    then: FormFor::Install,
                };
                Ok(())
            }
            "remove" => self.pick_container("remove which app?", PickFor::Remove, false),
            "edit" => {
                self.edit_request = true;
                Ok(())
            }
            "goto" => self.pick_revision(),
            "update" => {
                self.screen = Screen::Form {
                    title: "update the BSP".into(),
                    fields: vec![("BSP package (pvr export)".into(), String::new())],
                    focus: 0,
                    then: FormFor::Update,
                };
                Ok(())
            }
            "claim" => {
                self.claim();
                Ok(())
            }
            "logs" => self.pick_container("logs of", PickFor::Logs, true),
            "quit" => {
                self.quit = true;
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(e) = r {
            self.message = format!("{name}: {}", err_text(&e));
            self.screen = Screen::Menu;
        }
    }

    fn view(&mut self) -> anyhow::Result<()> {
        let rev = self.pv.revision()?;
        let p = self.pv.progress(&rev)?;
        let mut lines = vec![
            format!("Revision: {rev}"),
            format!("Progress: {} {}% {}", p.status, p.percent, p.msg),
            String::new(),
            format!("{:<20} {:<12} {:<12} roles", "CONTAINER", "GROUP", "STATUS"),
        ];
        for c in self.pv.containers()? {
            lines.push(format!(
                "{:<20} {:<12} {:<12} {}",
                c.name,
                c.group,
                c.status,
                c.roles.join(",")
            ));
        }
        lines.push(String::new());
        lines.push("State:".into());
        lines.extend(self.pv.state_pretty(&rev)?.lines().map(String::from));
        self.text("view", lines);
        Ok(())
    }

    fn info(&mut self) -> anyhow::Result<()> {
        let mut lines = vec!["Device Info:".to_string()];
        for (k, v) in self.pv.device_meta()? {
            lines.push(format!("{k}: {v}"));
        }
        lines.push(String::new());
        lines.push("User Meta:".into());
        for (k, v) in self.pv.user_meta()? {
            lines.push(format!("{k}: {v}"));
        }
        self.text("info", lines);
        Ok(())
    }

    fn claim(&mut self) {
        let host = self.pv.hint("pantahub-host").unwrap_or_default();
        let id = self.pv.hint("device-id").unwrap_or_default();
        let challenge = self.pv.hint("challenge").unwrap_or_default();
        let claimed = self
            .pv
            .device_meta()
            .ok()
            .and_then(|m| m.into_iter().find(|(k, _)| k == "pantahub.claimed"))
            .map(|(_, v)| v == "1")
            .unwrap_or(false);
        let mut lines = vec![format!(
            "Hub: {}",
            if host.is_empty() {
                "(none configured)"
            } else {
                &host
            }
        )];
        lines.push(format!(
            "Device id: {}",
            if id.is_empty() {
                "(not registered yet)"
            } else {
                &id
            }
        ));
        if claimed {
            lines.push("The device is claimed.".into());
        } else if !challenge.is_empty() {
            lines.push(format!("Challenge: {challenge}"));
            lines.push(String::new());
            lines.push("Claim it from a host with your hub account:".into());
            lines.push(format!("  pvr claim -c {challenge} {host}/devices/{id}"));
        } else if host.is_empty() {
            lines.push("No hub is configured: the device runs in local mode.".into());
        } else {
            lines.push(
                "No claim is pending: the device has not registered with its hub (no challenge)."
                    .into(),
            );
        }
        self.text("claim", lines);
    }

    fn pick_container(&mut self, title: &str, then: PickFor, runtime: bool) -> anyhow::Result<()> {
        let mut items: Vec<(String, String)> = self
            .pv
            .containers()?
            .into_iter()
            .map(|c| {
                (
                    format!("{:<20} {:<12} {}", c.name, c.group, c.status),
                    c.name,
                )
            })
            .collect();
        if runtime {
            items.push(("pantavisor (the runtime)".into(), "pantavisor".into()));
        }
        if items.is_empty() {
            anyhow::bail!("no containers");
        }
        self.screen = Screen::Pick {
            title: title.into(),
            items,
            sel: 0,
            then,
        };
        Ok(())
    }

    fn pick_revision(&mut self) -> anyhow::Result<()> {
        let items = self
            .pv
            .steps()?
            .into_iter()
            .rev()
            .map(|s| {
                (
                    format!("{:<40} {:<10} {}", s.name, s.progress.status, s.date),
                    s.name,
                )
            })
            .collect();
        self.screen = Screen::Pick {
            title: "run which revision?".into(),
            items,
            sel: 0,
            then: PickFor::Goto,
        };
        Ok(())
    }

    /// A new revision is on the device: offer to run it.
    fn installed(&mut self, what: &str, r: anyhow::Result<String>) {
        match r {
            Ok(rev) => {
                self.message = format!("{what}: new revision {rev} installed");
                self.screen = Screen::RunNow {
                    rev,
                    what: what.into(),
                };
            }
            Err(e) => {
                self.message = format!("{what} failed: {}", err_text(&e));
                self.screen = Screen::Menu;
            }
        }
    }

    fn run(&mut self, rev: String) {
        match self.pv.run(&rev) {
            Ok(()) => {
                self.message = format!("running {rev}");
                self.screen = Screen::Progress {
                    rev,
                    last: Progress::default(),
                };
                self.last_poll = Instant::now() - Duration::from_secs(1);
                self.tick();
            }
            Err(e) => {
                self.message = format!("run {rev} failed: {}", err_text(&e));
                self.screen = Screen::Menu;
            }
        }
    }

    /// The edited state (called by the main loop after the editor ran).
    pub fn edited(&mut self, before: &str, after: std::io::Result<String>) {
        match after {
            Ok(after) if after.trim() == before.trim() => {
                self.message = "edit: no change".into();
                self.screen = Screen::Menu;
            }
            Ok(after) => {
                let r = self.pv.commit_state(after.as_bytes());
                self.installed("edit", r);
            }
            Err(e) => {
                self.message = format!("edit: {e}");
                self.screen = Screen::Menu;
            }
        }
    }

    pub fn key(&mut self, k: KeyEvent) {
        if k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL) {
            self.quit = true;
            return;
        }
        let screen = std::mem::replace(&mut self.screen, Screen::Menu);
        self.screen = match screen {
            Screen::Menu => {
                match k.code {
                    KeyCode::Up => self.menu_sel = self.menu_sel.saturating_sub(1),
                    KeyCode::Down => self.menu_sel = (self.menu_sel + 1).min(MENU.len() - 1),
                    KeyCode::Enter => self.open(MENU[self.menu_sel].1),
                    KeyCode::Char(c) => {
                        if let Some(i) = MENU.iter().position(|m| m.0 == c) {
                            self.menu_sel = i;
                            self.open(MENU[i].1);
                        }
                    }
                    _ => {}
                }
                return;
            }
            Screen::Text {
                title,
                lines,
                scroll,
            } => match k.code {
                KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => Screen::Menu,
                KeyCode::Down | KeyCode::Char('j') => Screen::Text {
                    title,
                    lines,
                    scroll: scroll.saturating_add(1),
                },
                KeyCode::PageDown => Screen::Text {
                    title,
                    lines,
                    scroll: scroll.saturating_add(20),
                },
                KeyCode::Up | KeyCode::Char('k') => Screen::Text {
                    title,
                    lines,
                    scroll: scroll.saturating_sub(1),
                },
                KeyCode::PageUp => Screen::Text {
                    title,
                    lines,
                    scroll: scroll.saturating_sub(20),
                },
                _ => Screen::Text {
                    title,
                    lines,
                    scroll,
                },
            },
            Screen::Pick {
                title,
                items,
                sel,
                then,
            } => match k.code {
                KeyCode::Esc => Screen::Menu,
                KeyCode::Up => Screen::Pick {
                    title,
                    items,
                    sel: sel.saturating_sub(1),
                    then,
                },
                KeyCode::Down => Screen::Pick {
                    sel: (sel + 1).min(items.len().saturating_sub(1)),
                    title,
                    items,
                    then,
                },
                KeyCode::Enter => {
                    let value = items[sel].1.clone();
                    self.picked(then, value);
                    return;
                }
                _ => Screen::Pick {
                    title,
                    items,
                    sel,
                    then,
                },
            },
            Screen::Form {
                title,
                mut fields,
                focus,
                then,
            } => match k.code {
                KeyCode::Esc => Screen::Menu,
                KeyCode::Tab | KeyCode::Down => Screen::Form {
                    focus: (focus + 1) % fields.len(),
                    title,
                    fields,
                    then,
                },
                KeyCode::Up | KeyCode::BackTab => Screen::Form {
                    focus: (focus + fields.len() - 1) % fields.len(),
                    title,
                    fields,
                    then,
                },
                KeyCode::Enter if focus + 1 < fields.len() => Screen::Form {
                    focus: focus + 1,
                    title,
                    fields,
                    then,
                },
                KeyCode::Enter => {
                    let values: Vec<String> = fields
                        .into_iter()
                        .map(|(_, v)| v.trim().to_string())
                        .collect();
                    self.submitted(then, values);
                    return;
                }
                KeyCode::Backspace => {
                    fields[focus].1.pop();
                    Screen::Form {
                        title,
                        fields,
                        focus,
                        then,
                    }
                }
                KeyCode::Char(c) => {
                    fields[focus].1.push(c);
                    Screen::Form {
                        title,
                        fields,
                        focus,
                        then,
                    }
                }
                _ => Screen::Form {
                    title,
                    fields,
                    focus,
                    then,
                },
            },
            Screen::RunNow { rev, what } => match k.code {
                KeyCode::Char('y') | KeyCode::Enter => {
                    self.run(rev);
                    return;
                }
                KeyCode::Char('n') | KeyCode::Esc => Screen::Menu,
                _ => Screen::RunNow { rev, what },
            },
            Screen::Progress { rev, last } => match k.code {
                KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => {
                    self.message = format!("{rev}: {} {}", last.status, last.msg);
                    Screen::Menu
                }
                _ => Screen::Progress { rev, last },
            },
            s @ Screen::Logs { .. } => match k.code {
                KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => Screen::Menu,
                _ => s,
            },
        };
    }

    fn picked(&mut self, then: PickFor, value: String) {
        match then {
            PickFor::Remove => {
                let r = self.pv.remove(&value);
                self.installed(&format!("remove {value}"), r);
            }
            PickFor::Goto => self.run(value),
            PickFor::Logs => {
                let rev = self.pv.revision().unwrap_or_default();
                let path = self.pv.log_path(&rev, &value);
                self.screen = Screen::Logs {
                    title: format!("logs of {value} (revision {rev}), following"),
                    lines: device::tail(&path, 500),
                    path,
                };
            }
        }
    }

    fn submitted(&mut self, then: FormFor, v: Vec<String>) {
        match then {
            FormFor::Install => {
                if v[0].is_empty() || v[1].is_empty() {
                    self.message = "install: a name and a source are needed".into();
                    return;
                }
                let group = Some(v[2].as_str()).filter(|g| !g.is_empty());
                let r = self.pv.install_app(&v[0], &v[1], group);
                self.installed(&format!("install {}", v[0]), r);
            }
            FormFor::Update => {
                let r = self.pv.update_bsp(std::path::Path::new(&v[0]));
                self.installed("update bsp", r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn app(dir: &std::path::Path) -> App {
        App::new(PvBox::new(dir.join("no-socket"), dir.join("logs")))
    }

    #[test]
    fn an_unreachable_device_is_said_in_the_header_and_actions_fail_cleanly() {
        let d = tempfile::tempdir().unwrap();
        let mut a = app(d.path());
        assert!(a.header.starts_with("device unreachable"), "{}", a.header);
        a.key(key(KeyCode::Char('v')));
        assert!(matches!(a.screen, Screen::Menu));
        assert!(a.message.starts_with("view: "), "{}", a.message);
    }

    #[test]
    fn forms_take_text_move_between_fields_and_check_what_is_needed() {
        let d = tempfile::tempdir().unwrap();
        let mut a = app(d.path());
        a.key(key(KeyCode::Char('i')));
        for c in "ab".chars() {
            a.key(key(KeyCode::Char(c)));
        }
        a.key(key(KeyCode::Backspace));
        a.key(key(KeyCode::Tab));
        a.key(key(KeyCode::Tab));
        let Screen::Form { fields, focus, .. } = &a.screen else {
            panic!("not a form")
        };
        assert_eq!((fields[0].1.as_str(), *focus), ("a", 2));
        a.key(key(KeyCode::Enter));
        assert_eq!(a.message, "install: a name and a source are needed");
        a.key(key(KeyCode::Esc));
        assert!(matches!(a.screen, Screen::Menu));
        a.key(key(KeyCode::Char('q')));
        assert!(a.quit);
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("log");
        assert!(device::tail(&f, 3).is_empty());
        std::fs::write(&f, "1\n2\n3\n4\n").unwrap();
        assert_eq!(device::tail(&f, 2), ["3", "4"]);
    }
}
