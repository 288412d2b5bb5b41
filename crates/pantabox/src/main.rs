//! `pantabox`: a terminal front-end to a Pantavisor device, over its
//! control socket (`--socket`, else found as pvtx finds it) and pvtx
//! transactions. The main menu follows the original's Pantabox: view,
//! info, install, remove, edit, goto, update, claim, logs.

mod app;
mod device;
mod package;
mod ui;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind};
use ratatui::crossterm::{execute, terminal};
use ratatui::DefaultTerminal;

use app::{App, Screen};
use device::PvBox;

/// Manage a Pantavisor device from a terminal.
#[derive(Parser)]
#[command(name = "pantabox", version)]
struct Args {
    /// The control socket (default: PVTX_SOCKET, else the first of
    /// /run/pantavisor/pv/pv-ctrl, /pv/pv-ctrl, /pantavisor/pv-ctrl).
    #[arg(long, env = "PVTX_SOCKET")]
    socket: Option<PathBuf>,
    /// The logs tree (default: `logs` beside the socket, as a mgmt
    /// container sees it).
    #[arg(long)]
    logs: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let socket = pv_tx::find_socket(args.socket.as_deref())?;
    let logs = args.logs.unwrap_or_else(|| {
        socket
            .parent()
            .map(|d| d.join("logs"))
            .unwrap_or_else(|| PathBuf::from("logs"))
    });
    let app = App::new(PvBox::new(socket, logs));
    let mut term = ratatui::init();
    let r = run(&mut term, app);
    ratatui::restore();
    r
}

fn run(term: &mut DefaultTerminal, mut app: App) -> Result<()> {
    while !app.quit {
        term.draw(|f| ui::draw(f, &app))?;
        if app.edit_request {
            app.edit_request = false;
            edit(term, &mut app)?;
            continue;
        }
        if !event::poll(Duration::from_millis(250))? {
            app.tick();
            continue;
        }
        if let Event::Key(k) = event::read()? {
            if k.kind != KeyEventKind::Press {
                continue;
            }
            // actions that talk to the device or build an app take a while
            let slow = k.code == KeyCode::Enter
                && matches!(
                    app.screen,
                    Screen::Form { .. } | Screen::Pick { .. } | Screen::RunNow { .. }
                );
            if slow {
                app.message = "working…".into();
                term.draw(|f| ui::draw(f, &app))?;
            }
            app.key(k);
            app.tick();
        }
    }
    Ok(())
}

/// Hand the terminal to `$EDITOR` (default `vi`) on the running state.
fn edit(term: &mut DefaultTerminal, app: &mut App) -> Result<()> {
    let before = match app.pv.revision().and_then(|r| app.pv.state_pretty(&r)) {
        Ok(s) => s,
        Err(e) => {
            app.message = format!("edit: {e:#}");
            return Ok(());
        }
    };
    let dir = tempfile::tempdir().context("a temporary directory")?;
    let file = dir.path().join("state.json");
    std::fs::write(&file, &before).with_context(|| format!("write {}", file.display()))?;
    let editor = std::env::var("EDITOR")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "vi".into());
    terminal::disable_raw_mode()?;
    execute!(std::io::stdout(), terminal::LeaveAlternateScreen)?;
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&file)
        .status();
    std::io::stdout().flush()?;
    execute!(std::io::stdout(), terminal::EnterAlternateScreen)?;
    terminal::enable_raw_mode()?;
    term.clear()?;
    match status {
        Ok(s) if s.success() => app.edited(&before, std::fs::read_to_string(&file)),
        Ok(s) => app.message = format!("edit: the editor exited with {s}; nothing changed"),
        Err(e) => app.message = format!("edit: cannot run {editor}: {e}"),
    }
    Ok(())
}
