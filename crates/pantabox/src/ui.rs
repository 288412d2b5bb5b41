//! Drawing: a status bar (revision, its status, mode) on top, the screen
//! in the middle, the last outcome and the keys at the bottom.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Gauge, List, ListItem, ListState, Paragraph, Wrap};
use ratatui::Frame;

use crate::app::{App, Screen, MENU};

fn keys(screen: &Screen) -> &'static str {
    match screen {
        Screen::Menu => "↑/↓ Enter or a letter: choose   q: quit",
        Screen::Text { .. } => "↑/↓ PgUp/PgDn: scroll   Esc: back",
        Screen::Pick { .. } => "↑/↓: move   Enter: choose   Esc: back",
        Screen::Form { .. } => "type; Tab/Enter: next field (Enter on the last: go)   Esc: back",
        Screen::RunNow { .. } => "y: run it now   n: not now",
        Screen::Progress { .. } | Screen::Logs { .. } => "Esc: back to the menu",
    }
}

pub fn draw(f: &mut Frame, app: &App) {
    let [top, body, msg, help] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    f.render_widget(
        Paragraph::new(app.header.as_str()).style(Style::new().fg(Color::Black).bg(Color::Cyan)),
        top,
    );
    f.render_widget(
        Paragraph::new(app.message.as_str()).style(Style::new().fg(Color::Yellow)),
        msg,
    );
    f.render_widget(
        Paragraph::new(keys(&app.screen)).style(Style::new().fg(Color::DarkGray)),
        help,
    );
    match &app.screen {
        Screen::Menu => menu(f, app, body),
        Screen::Text {
            title,
            lines,
            scroll,
        } => {
            let text: Vec<Line> = lines.iter().map(|l| Line::raw(l.as_str())).collect();
            f.render_widget(
                Paragraph::new(text)
                    .block(block(title))
                    .scroll((*scroll, 0)),
                body,
            );
        }
        Screen::Pick {
            title, items, sel, ..
        } => {
            let list = List::new(items.iter().map(|(l, _)| ListItem::new(l.as_str())))
                .block(block(title))
                .highlight_style(Style::new().add_modifier(Modifier::REVERSED))
                .highlight_symbol("> ");
            let mut st = ListState::default().with_selected(Some(*sel));
            f.render_stateful_widget(list, body, &mut st);
        }
        Screen::Form {
            title,
            fields,
            focus,
            ..
        } => {
            let lines: Vec<Line> = fields
                .iter()
                .enumerate()
                .flat_map(|(i, (label, value))| {
                    let cursor = if i == *focus { "▏" } else { "" };
                    let style = if i == *focus {
                        Style::new().add_modifier(Modifier::BOLD)
                    } else {
                        Style::new()
                    };
                    [
                        Line::styled(format!("{label}:"), style),
                        Line::raw(format!("  [{value}{cursor}]")),
                        Line::raw(""),
                    ]
                })
                .collect();
            f.render_widget(Paragraph::new(lines).block(block(title)), body);
        }
        Screen::RunNow { rev, what } => {
            let text = vec![
                Line::raw(format!("{what}:")),
                Line::raw(""),
                Line::raw(format!("New Revision {rev}")),
                Line::raw("installed!"),
                Line::raw(""),
                Line::raw("Do you want to run it now?"),
                Line::raw(""),
                Line::styled("< Yes (y) >   < No (n) >", Style::new().fg(Color::Blue)),
            ];
            f.render_widget(
                Paragraph::new(text).block(block("new revision")),
                centered(body, 60, 12),
            );
        }
        Screen::Progress { rev, last } => {
            let [info, gauge] =
                Layout::vertical([Constraint::Min(3), Constraint::Length(3)]).areas(body);
            let done = if last.is_final() {
                "finished"
            } else {
                "in progress"
            };
            let text = vec![
                Line::raw(format!("Revision {rev}: {done}")),
                Line::from(vec![
                    Span::raw("Status: "),
                    Span::styled(
                        last.status.as_str(),
                        Style::new().add_modifier(Modifier::BOLD),
                    ),
                ]),
                Line::raw(format!("Message: {}", last.msg)),
            ];
            f.render_widget(
                Paragraph::new(text)
                    .block(block("progress"))
                    .wrap(Wrap { trim: false }),
                info,
            );
            f.render_widget(
                Gauge::default()
                    .block(Block::new().borders(Borders::ALL))
                    .percent(last.percent.clamp(0, 100) as u16),
                gauge,
            );
        }
        Screen::Logs { title, lines, .. } => {
            let h = body.height.saturating_sub(2) as usize;
            let shown: Vec<Line> = lines[lines.len().saturating_sub(h)..]
                .iter()
                .map(|l| Line::raw(l.as_str()))
                .collect();
            f.render_widget(Paragraph::new(shown).block(block(title)), body);
        }
    }
}

fn block(title: &str) -> Block<'_> {
    Block::new()
        .borders(Borders::ALL)
        .title(format!(" {title} "))
}

fn menu(f: &mut Frame, app: &App, area: Rect) {
    let items = MENU.iter().map(|(k, name, what)| {
        ListItem::new(Line::from(vec![
            Span::styled(format!("{k}  "), Style::new().fg(Color::Yellow)),
            Span::styled(
                format!("{name:<10}"),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Span::raw(*what),
        ]))
    });
    let list = List::new(items)
        .block(block("Pantabox"))
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("> ");
    let mut st = ListState::default().with_selected(Some(app.menu_sel));
    f.render_stateful_widget(list, area, &mut st);
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}
