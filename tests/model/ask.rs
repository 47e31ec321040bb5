//! Questions to the five decisions, asked of the engine (`callgate::Table`) or of the
//! reference model, with both answers projected to one comparable [`Answer`].

use callgate::check::{
    AgentPauseCheck, CallerIdCheck, FeatureCodeCheck, PermissionCheck, RecordingCheck, RecordingOf,
    ResourceOf, Text, Texts,
};
use callgate::{Action, Category, Check, RecordingAction, Table, Tenant};

use super::reference::{self, Answer, Rec, Res};

/// One question to one of the five decisions, owning its text.
#[derive(Debug, Clone)]
pub enum Ask {
    /// Caller ID.
    CallerId {
        /// The caller.
        user: String,
        /// The caller ID asked for.
        requested: Option<String>,
        /// What was dialed.
        dialed: String,
    },
    /// Queue agent pause.
    Pause {
        /// Who pauses.
        actor: String,
        /// Who is paused.
        agent: String,
        /// In which queue.
        queue: String,
        /// Pause or unpause.
        paused: bool,
    },
    /// Recording access.
    Recording {
        /// Who asks.
        actor: String,
        /// What for.
        action: RecordingAction,
        /// The call's queue.
        queue: Option<String>,
        /// The call's extensions.
        exts: Vec<String>,
        /// The call's numbers.
        numbers: Vec<String>,
        /// The call's site.
        site: Option<String>,
    },
    /// Feature code.
    Feature {
        /// The caller.
        user: String,
        /// What was dialed.
        dialed: String,
    },
    /// Permission.
    Permission {
        /// Who asks.
        user: String,
        /// About what.
        category: Category,
        /// To do what.
        action: Action,
        /// Site, queue, extension, number.
        resource: [Option<String>; 4],
    },
}

/// The engine's answer, projected: asked as a front end asks, through [`Table::check`].
pub fn engine(t: &Table, tenant: &str, ask: &Ask) -> Answer {
    let check = as_check(tenant, ask);
    let answer = t.check(&check);
    let (caller_id, feature, args) = match &answer {
        callgate::Answer::CallerId(a) => (a.caller_id.map(|n| n.to_string()), None, Vec::new()),
        callgate::Answer::FeatureCode(a) => (
            None,
            a.feature.map(|f| f.as_str()),
            a.args.iter().map(str::to_string).collect(),
        ),
        callgate::Answer::Verdict(_) => (None, None, Vec::new()),
    };
    Answer {
        decision: answer.outcome().as_str(),
        reason: answer.reason().code(),
        caller_id,
        feature,
        args,
    }
}

/// The question as the engine's [`Check`], borrowing it.
fn as_check<'a>(tenant: &'a str, ask: &'a Ask) -> Check<'a> {
    let text = |s: &'a String| -> Text<'a> { s.as_str().into() };
    let opt = |s: &'a Option<String>| s.as_deref().map(Text::from);
    match ask {
        Ask::CallerId {
            user,
            requested,
            dialed,
        } => Check::CallerId(CallerIdCheck {
            tenant: tenant.into(),
            user: user.into(),
            requested: opt(requested),
            dialed: text(dialed),
            authenticated: None,
        }),
        Ask::Pause {
            actor,
            agent,
            queue,
            paused,
        } => Check::AgentPause(AgentPauseCheck {
            tenant: tenant.into(),
            actor: text(actor),
            agent: text(agent),
            queue: text(queue),
            paused: *paused,
        }),
        Ask::Recording {
            actor,
            action,
            queue,
            exts,
            numbers,
            site,
        } => Check::Recording(RecordingCheck {
            tenant: tenant.into(),
            actor: text(actor),
            action: *action,
            recording: RecordingOf {
                queue: opt(queue),
                extensions: Texts::Owned(exts.clone()),
                numbers: Texts::Owned(numbers.clone()),
                site: opt(site),
            },
        }),
        Ask::Feature { user, dialed } => Check::FeatureCode(FeatureCodeCheck {
            tenant: tenant.into(),
            user: user.into(),
            dialed: text(dialed),
        }),
        Ask::Permission {
            user,
            category,
            action,
            resource: [site, queue, extension, number],
        } => Check::Permission(PermissionCheck {
            tenant: tenant.into(),
            user: text(user),
            category: *category,
            action: *action,
            resource: ResourceOf {
                site: opt(site),
                queue: opt(queue),
                extension: opt(extension),
                number: opt(number),
            },
        }),
    }
}

/// The reference model's answer over the same tenants.
pub fn model(tenants: &[Tenant], tenant: &str, ask: &Ask) -> Answer {
    let t = tenants.iter().find(|t| t.id == tenant);
    match ask {
        Ask::CallerId {
            user,
            requested,
            dialed,
        } => reference::caller_id(t, user, requested.as_deref(), dialed),
        Ask::Pause {
            actor,
            agent,
            queue,
            ..
        } => reference::agent_pause(t, actor, agent, queue),
        Ask::Recording {
            actor,
            action,
            queue,
            exts,
            numbers,
            site,
        } => {
            let rec = Rec {
                queue: queue.as_deref(),
                extensions: exts.iter().map(String::as_str).collect(),
                numbers: numbers.iter().map(String::as_str).collect(),
                site: site.as_deref(),
            };
            reference::recording(t, actor, *action, &rec)
        }
        Ask::Feature { user, dialed } => reference::feature_code(t, user, dialed),
        Ask::Permission {
            user,
            category,
            action,
            resource: [site, queue, extension, number],
        } => {
            let res = Res {
                site: site.as_deref(),
                queue: queue.as_deref(),
                extension: extension.as_deref(),
                number: number.as_deref(),
            };
            reference::permission(t, user, *category, *action, &res)
        }
    }
}
