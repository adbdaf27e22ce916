//! Who a connection speaks for, decided when it is accepted and never by what
//! the client claims (docs/security.md, "Authority"):
//!
//! - the operator: `weftctl` and tests on the operator socket, any process of
//!   the session user that is not part of a session;
//! - the system UI: the WebSocket with the token and an allowed Origin;
//! - session N's UI: the channel weft-appd hands session N's app shell as its
//!   standard input when it starts it. It may exchange session N's IPC,
//!   attach session N's UI and ask session N's state; nothing else.
//!
//! A process of a session (its runtime, its app shell or anything they
//! started) that connects to the operator socket is refused: Landlock does not
//! govern `connect()` to a named Unix socket, so this check is what keeps a
//! compromised page from driving every session.

use std::fs;
use std::path::{Path, PathBuf};

use weft_protocol::appd::{ErrorCode, Event, Request};

/// The authority of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authority {
    /// Everything.
    Operator,
    /// Everything but sessions' output and consent to downgrades
    /// (`QUERY_LOGS` and `ALLOW_DOWNGRADE` are the operator's).
    SystemUi,
    /// Only this session's IPC, UI attachment and state.
    SessionUi(u64),
}

impl Authority {
    /// Whether this authority covers `request`; the refusal names both.
    pub fn check(self, request: &Request) -> Result<(), (ErrorCode, String)> {
        let allowed = match (self, request) {
            (_, Request::Hello { .. }) | (Self::Operator, _) => true,
            (Self::SystemUi, request) => {
                !matches!(request, Request::QueryLogs { .. } | Request::AllowDowngrade { .. })
            }
            (
                Self::SessionUi(own),
                Request::IpcForward { session, .. }
                | Request::AttachUi { session }
                | Request::QueryAppState { session },
            ) => *session == own,
            (Self::SessionUi(_), _) => false,
        };
        if allowed {
            Ok(())
        } else {
            Err((
                ErrorCode::Forbidden,
                format!("{} may not {}", self.describe(), describe(request)),
            ))
        }
    }

    /// Whether a broadcast event goes to this connection. Every event is
    /// named, so a new one cannot reach an app's UI without a decision here.
    pub fn sees(self, event: &Event) -> bool {
        let Self::SessionUi(own) = self else { return true };
        match event {
            Event::AppReady { session, .. }
            | Event::AppState { session, .. }
            | Event::IpcMessage { session, .. } => *session == own,
            Event::NavigationGesture { .. }
            | Event::Notification { .. }
            | Event::LogLine { .. }
            | Event::LogsEnd { .. } => false,
        }
    }

    fn describe(self) -> String {
        match self {
            Self::Operator => "the operator".to_owned(),
            Self::SystemUi => "the system UI".to_owned(),
            Self::SessionUi(session) => format!("session {session}'s UI"),
        }
    }
}

/// What a request asks for, for refusals.
fn describe(request: &Request) -> String {
    match request {
        Request::Hello { .. } => "say HELLO".to_owned(),
        Request::LaunchApp { app_id } => format!("launch {app_id:?}"),
        Request::TerminateApp { session } => format!("terminate session {session}"),
        Request::QueryRunning => "list the sessions".to_owned(),
        Request::QueryAppState { session } => format!("query session {session}'s state"),
        Request::QueryInstalledApps => "list the installed apps".to_owned(),
        Request::IpcForward { session, .. } => format!("send IPC to session {session}"),
        Request::AttachUi { session } => format!("attach session {session}'s UI"),
        Request::FocusSession { session } => format!("focus session {session}"),
        Request::PanelGesture { .. } => "send panel gestures".to_owned(),
        Request::QueryLogs { session, .. } => format!("read session {session}'s logs"),
        Request::AllowDowngrade { app_id } => format!("allow a downgrade of {app_id:?}"),
    }
}

/// A session's processes as the daemon knows them.
pub struct SessionProcesses {
    /// The session.
    pub session: u64,
    /// The runtime's pid (its process group leader) and the session's other
    /// children (the file portal, the app shell).
    pub pids: Vec<u32>,
    /// The session's cgroup, when sessions get one.
    pub cgroup: Option<PathBuf>,
}

/// Where cgroup v2 is mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// How many ancestors are looked at; deeper trees are not a session's.
const MAX_ANCESTORS: usize = 64;

/// The session `pid` belongs to: it is in the session's cgroup, or it is one
/// of the session's processes or a descendant of one.
pub fn session_of(pid: u32, sessions: &[SessionProcesses]) -> Option<u64> {
    if let Some(cgroup) = cgroup_of(pid) {
        let owner = sessions.iter().find(|known| {
            known.cgroup.as_deref().is_some_and(|session_cgroup| cgroup.starts_with(session_cgroup))
        });
        if let Some(owner) = owner {
            return Some(owner.session);
        }
    }
    let mut current = pid;
    for _ in 0..MAX_ANCESTORS {
        if let Some(owner) = sessions.iter().find(|known| known.pids.contains(&current)) {
            return Some(owner.session);
        }
        match parent_of(current) {
            Some(parent) if parent > 1 => current = parent,
            _ => return None,
        }
    }
    None
}

/// `pid`'s cgroup v2 directory.
fn cgroup_of(pid: u32) -> Option<PathBuf> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = text.lines().find_map(|line| line.strip_prefix("0::"))?;
    Some(Path::new(CGROUP_ROOT).join(path.trim_start_matches('/')))
}

/// `pid`'s parent, from `/proc/<pid>/stat` (the field after the command
/// name, which may itself hold spaces and parentheses).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ui_may_act_only_for_its_own_session() {
        let ui = Authority::SessionUi(2);
        let own = [
            Request::Hello { versions: vec![1] },
            Request::IpcForward { session: 2, message: "hi".into() },
            Request::AttachUi { session: 2 },
            Request::QueryAppState { session: 2 },
        ];
        for request in &own {
            assert_eq!(ui.check(request), Ok(()), "{request:?}");
        }
        let others = [
            Request::LaunchApp { app_id: "org.weft.clock".into() },
            Request::TerminateApp { session: 2 },
            Request::TerminateApp { session: 1 },
            Request::QueryRunning,
            Request::QueryAppState { session: 1 },
            Request::QueryInstalledApps,
            Request::IpcForward { session: 1, message: "hi".into() },
            Request::AttachUi { session: 1 },
            Request::FocusSession { session: 2 },
            Request::PanelGesture { gesture: "home".into() },
            Request::QueryLogs { session: 2, follow: false },
            Request::AllowDowngrade { app_id: "org.weft.test".into() },
        ];
        for request in &others {
            let (code, message) = ui.check(request).unwrap_err();
            assert_eq!(code, ErrorCode::Forbidden);
            assert!(message.starts_with("session 2's UI may not "), "{message}");
        }
        for request in own.iter().chain(&others) {
            assert_eq!(Authority::Operator.check(request), Ok(()));
        }
        assert!(
            Authority::SystemUi.check(&Request::QueryLogs { session: 1, follow: true }).is_err()
        );
        let downgrade = Request::AllowDowngrade { app_id: "a.b".into() };
        assert_eq!(Authority::SystemUi.check(&downgrade).unwrap_err().0, ErrorCode::Forbidden);
        assert!(Authority::SystemUi.check(&Request::LaunchApp { app_id: "a.b".into() }).is_ok());
    }

    #[test]
    fn a_session_ui_sees_only_its_own_sessions_events() {
        let ui = Authority::SessionUi(2);
        let message = |session| Event::IpcMessage { session, message: "x".into(), seq: 1 };
        assert!(ui.sees(&message(2)));
        assert!(!ui.sees(&message(1)));
        assert!(!ui.sees(&Event::NavigationGesture { gesture: "home".into() }));
        let notification = Event::Notification {
            session: 2,
            app_id: "a.b".into(),
            title: "t".into(),
            body: "b".into(),
        };
        assert!(!ui.sees(&notification));
        assert!(Authority::SystemUi.sees(&message(1)));
    }

    #[test]
    fn processes_are_found_by_cgroup_and_by_ancestry() {
        let me = std::process::id();
        let parent = parent_of(me).unwrap();
        let session =
            |pids: Vec<u32>, cgroup: Option<PathBuf>| SessionProcesses { session: 7, pids, cgroup };
        assert_eq!(session_of(me, &[session(vec![me], None)]), Some(7));
        assert_eq!(session_of(me, &[session(vec![parent], None)]), Some(7), "a descendant");
        assert_eq!(session_of(me, &[session(vec![u32::MAX], None)]), None);
        let mine = cgroup_of(me).unwrap();
        assert_eq!(session_of(me, &[session(vec![], Some(mine))]), Some(7));
        assert_eq!(session_of(me, &[session(vec![], Some(PathBuf::from("/nowhere")))]), None);
    }
}
