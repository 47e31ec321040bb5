//! Questions to the five decisions, asked of the engine (`callgate::Table`) or of the
//! reference model, with both answers projected to one comparable [`Answer`].

use callgate::{Action, Category, Recording, RecordingAction, Resource, Table, Tenant};

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

/// The engine's answer, projected.
pub fn engine(t: &Table, tenant: &str, ask: &Ask) -> Answer {
    let verdict = |v: callgate::Verdict| Answer {
        decision: v.outcome.as_str(),
        reason: v.reason.code(),
        caller_id: None,
        feature: None,
        args: Vec::new(),
    };
    match ask {
        Ask::CallerId {
            user,
            requested,
            dialed,
        } => {
            let a = t.check_caller_id(tenant, user, requested.as_deref(), dialed);
            Answer {
                decision: a.outcome.as_str(),
                reason: a.reason.code(),
                caller_id: a.caller_id.map(|n| n.to_string()),
                feature: None,
                args: Vec::new(),
            }
        }
        Ask::Pause {
            actor,
            agent,
            queue,
            paused,
        } => verdict(t.check_agent_pause(tenant, actor, agent, queue, *paused)),
        Ask::Recording {
            actor,
            action,
            queue,
            exts,
            numbers,
            site,
        } => {
            let exts: Vec<&str> = exts.iter().map(String::as_str).collect();
            let numbers: Vec<&str> = numbers.iter().map(String::as_str).collect();
            let r = Recording {
                queue: queue.as_deref(),
                extensions: &exts,
                numbers: &numbers,
                site: site.as_deref(),
            };
            verdict(t.check_recording(tenant, actor, *action, &r))
        }
        Ask::Feature { user, dialed } => {
            let a = t.check_feature_code(tenant, user, dialed);
            Answer {
                decision: a.outcome.as_str(),
                reason: a.reason.code(),
                caller_id: None,
                feature: a.feature.map(|f| f.as_str()),
                args: a.args.iter().map(str::to_string).collect(),
            }
        }
        Ask::Permission {
            user,
            category,
            action,
            resource: [site, queue, extension, number],
        } => {
            let r = Resource {
                site: site.as_deref(),
                queue: queue.as_deref(),
                extension: extension.as_deref(),
                number: number.as_deref(),
            };
            verdict(t.check_permission(tenant, user, *category, *action, &r))
        }
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
