//! `POST /commands`: the body `{"op":"<OP>","payload":"<text>"}` and the
//! checks that decide whether a command takes the one-command slot.

use serde_json::Value;

use crate::error::ApiError;

/// A command operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandOp {
    UpdateMetadata,
    RebootDevice,
    PoweroffDevice,
    LocalRun,
    LocalRunCommit,
    MakeFactory,
    RunGc,
    EnableSsh,
    DisableSsh,
    GoRemote,
    DeferReboot,
    Unclaim,
    /// Accepted but not implemented by the original (logged and dropped).
    TryOnce,
    /// Accepted but not implemented by the original (logged and dropped).
    LocalApply,
    /// Accepted but not implemented by the original (logged and dropped).
    XconnectGraph,
}

impl CommandOp {
    /// Every operation.
    pub const ALL: [CommandOp; 15] = [
        CommandOp::UpdateMetadata,
        CommandOp::RebootDevice,
        CommandOp::PoweroffDevice,
        CommandOp::LocalRun,
        CommandOp::LocalRunCommit,
        CommandOp::MakeFactory,
        CommandOp::RunGc,
        CommandOp::EnableSsh,
        CommandOp::DisableSsh,
        CommandOp::GoRemote,
        CommandOp::DeferReboot,
        CommandOp::Unclaim,
        CommandOp::TryOnce,
        CommandOp::LocalApply,
        CommandOp::XconnectGraph,
    ];

    /// The wire name (`LOCAL_RUN`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            CommandOp::UpdateMetadata => "UPDATE_METADATA",
            CommandOp::RebootDevice => "REBOOT_DEVICE",
            CommandOp::PoweroffDevice => "POWEROFF_DEVICE",
            CommandOp::LocalRun => "LOCAL_RUN",
            CommandOp::LocalRunCommit => "LOCAL_RUN_COMMIT",
            CommandOp::MakeFactory => "MAKE_FACTORY",
            CommandOp::RunGc => "RUN_GC",
            CommandOp::EnableSsh => "ENABLE_SSH",
            CommandOp::DisableSsh => "DISABLE_SSH",
            CommandOp::GoRemote => "GO_REMOTE",
            CommandOp::DeferReboot => "DEFER_REBOOT",
            CommandOp::Unclaim => "UNCLAIM",
            CommandOp::TryOnce => "TRY_ONCE",
            CommandOp::LocalApply => "LOCAL_APPLY",
            CommandOp::XconnectGraph => "XCONNECT_GRAPH",
        }
    }

    /// Parse a wire name (exact, case-sensitive).
    pub fn from_wire(s: &str) -> Option<CommandOp> {
        CommandOp::ALL.into_iter().find(|op| op.as_str() == s)
    }

    /// Operations refused with 503 while an update is in progress.
    pub fn blocked_by_update(self) -> bool {
        matches!(
            self,
            CommandOp::RebootDevice
                | CommandOp::PoweroffDevice
                | CommandOp::LocalRun
                | CommandOp::LocalRunCommit
                | CommandOp::MakeFactory
                | CommandOp::Unclaim
        )
    }
}

/// A parsed command. `payload` is the payload string's content, or the raw
/// JSON text when the payload is not a string (an `UPDATE_METADATA` payload
/// may be an object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub op: CommandOp,
    pub payload: String,
}

/// The state the checks of [`Command::admit`] depend on, supplied by the
/// runtime when it takes a command out of the queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommandFacts {
    /// The device is in remote mode (talks to the Hub).
    pub remote_mode: bool,
    /// An update object exists (a revision is being installed, tried or
    /// tested).
    pub update_in_progress: bool,
    /// The device is claimed.
    pub claimed: bool,
    /// `PV_CONTROL_REMOTE` is on.
    pub control_remote: bool,
    /// `PV_DEBUG_SHELL` is on.
    pub debug_shell: bool,
    /// The one-command slot holds a command not yet consumed by a WAIT tick.
    pub slot_busy: bool,
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Command {
    /// Parse a `POST /commands` body: empty → 400 `No command found`; no
    /// JSON object, no known `op` or no `payload` → 400
    /// `Command has bad format`.
    pub fn parse(body: &[u8]) -> Result<Command, ApiError> {
        if body.is_empty() {
            return Err(ApiError::no_command());
        }
        let v: Value = serde_json::from_slice(body).map_err(|_| ApiError::command_bad_format())?;
        let op = v
            .get("op")
            .and_then(Value::as_str)
            .and_then(CommandOp::from_wire)
            .ok_or_else(ApiError::command_bad_format)?;
        let payload = v
            .get("payload")
            .map(value_text)
            .ok_or_else(ApiError::command_bad_format)?;
        Ok(Command { op, payload })
    }

    /// Decide, in the original's order, whether the command is taken:
    /// `Ok(())` means store it in the slot and answer 200 (it runs at the
    /// next WAIT tick); `Err` is the answer to send instead.
    ///
    /// 1. `UPDATE_METADATA` in local mode → 409;
    /// 2. an update in progress and a reboot/poweroff/run/factory/unclaim
    ///    op → 503, `Retry-After: 600`;
    /// 3. `MAKE_FACTORY` while claimed, `GO_REMOTE` with remote control
    ///    disabled, `DEFER_REBOOT` without debug shell → 409;
    /// 4. `GO_REMOTE` when already remote, `UNCLAIM` when unclaimed → 204;
    /// 5. slot busy → 503, `Retry-After: 120`.
    pub fn admit(&self, f: &CommandFacts) -> Result<(), ApiError> {
        use CommandOp as Op;
        if self.op == Op::UpdateMetadata && !f.remote_mode {
            return Err(ApiError::local_mode());
        }
        if f.update_in_progress && self.op.blocked_by_update() {
            return Err(ApiError::update_ongoing());
        }
        if self.op == Op::MakeFactory && f.claimed {
            return Err(ApiError::already_claimed());
        }
        if self.op == Op::GoRemote && !f.control_remote {
            return Err(ApiError::remote_disabled());
        }
        if self.op == Op::DeferReboot && !f.debug_shell {
            return Err(ApiError::no_debug_shell());
        }
        if self.op == Op::GoRemote && f.remote_mode {
            return Err(ApiError::already_remote());
        }
        if self.op == Op::Unclaim && !f.claimed {
            return Err(ApiError::already_unclaimed());
        }
        if f.slot_busy {
            return Err(ApiError::command_busy());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(op: CommandOp) -> Command {
        Command {
            op,
            payload: String::new(),
        }
    }

    #[test]
    fn parses() {
        assert_eq!(
            Command::parse(br#"{"op":"LOCAL_RUN","payload":"locals/t1"}"#).unwrap(),
            Command {
                op: CommandOp::LocalRun,
                payload: "locals/t1".into()
            }
        );
        let m = Command::parse(br#"{"op":"UPDATE_METADATA","payload":{"k":"v"}}"#).unwrap();
        assert_eq!(m.payload, r#"{"k":"v"}"#);
        assert_eq!(Command::parse(b"").unwrap_err(), ApiError::no_command());
        for bad in [
            &br#"{"op":"LOCAL_RUN"}"#[..],
            br#"{"payload":""}"#,
            br#"{"op":"NOPE","payload":""}"#,
            b"garbage",
            b"[1,2]",
        ] {
            assert_eq!(
                Command::parse(bad).unwrap_err(),
                ApiError::command_bad_format()
            );
        }
        for op in CommandOp::ALL {
            assert_eq!(CommandOp::from_wire(op.as_str()), Some(op));
        }
    }

    #[test]
    fn admission_order() {
        let local = CommandFacts::default();
        assert_eq!(
            cmd(CommandOp::UpdateMetadata).admit(&local),
            Err(ApiError::local_mode())
        );
        let updating = CommandFacts {
            update_in_progress: true,
            slot_busy: true,
            ..local
        };
        assert_eq!(
            cmd(CommandOp::RebootDevice).admit(&updating),
            Err(ApiError::update_ongoing())
        );
        assert_eq!(
            cmd(CommandOp::RunGc).admit(&updating),
            Err(ApiError::command_busy())
        );
        assert_eq!(
            cmd(CommandOp::GoRemote).admit(&local),
            Err(ApiError::remote_disabled())
        );
        let remote = CommandFacts {
            remote_mode: true,
            control_remote: true,
            claimed: true,
            ..local
        };
        assert_eq!(
            cmd(CommandOp::GoRemote).admit(&remote),
            Err(ApiError::already_remote())
        );
        assert_eq!(
            cmd(CommandOp::MakeFactory).admit(&remote),
            Err(ApiError::already_claimed())
        );
        assert_eq!(
            cmd(CommandOp::Unclaim).admit(&local),
            Err(ApiError::already_unclaimed())
        );
        assert_eq!(
            cmd(CommandOp::DeferReboot).admit(&local),
            Err(ApiError::no_debug_shell())
        );
        assert_eq!(cmd(CommandOp::EnableSsh).admit(&local), Ok(()));
    }
}
