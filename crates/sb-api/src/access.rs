//! Who may use the control API: bearer tokens and their roles.

/// Who may do what through the control API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Acts on its own calls only, and sees patients' numbers masked.
    Agent,
    /// Acts on any call.
    Operator,
    /// Acts on any call and reads the reports.
    Supervisor,
    /// Everything.
    Admin,
}

/// A bearer token the control API accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// The secret.
    pub token: String,
    /// What it may do.
    pub role: Role,
    /// For an agent's token: the extension it acts for.
    pub agent: Option<String>,
}
