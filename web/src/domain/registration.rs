//! Whether people may create accounts: staff switch it in the console.

/// Who may become a user: anyone (`/signup`), only people invited to a team, or nobody new
/// (the CLI's `dyn53 user add`, the operator's, is never refused).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Registration {
    #[default]
    Open,
    InvitationOnly,
    Closed,
}

impl Registration {
    pub const ALL: [Registration; 3] = [
        Registration::Open,
        Registration::InvitationOnly,
        Registration::Closed,
    ];

    /// As stored and as sent by the console's form.
    pub fn as_str(self) -> &'static str {
        match self {
            Registration::Open => "open",
            Registration::InvitationOnly => "invitation",
            Registration::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Registration> {
        Registration::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// For people.
    pub fn label(self) -> &'static str {
        match self {
            Registration::Open => "Open: anyone may sign up",
            Registration::InvitationOnly => {
                "Invitation only: people join a team they are invited to"
            }
            Registration::Closed => "Closed: no new users, not even by invitation",
        }
    }

    /// Whether `/signup` creates accounts.
    pub fn signup_open(self) -> bool {
        self == Registration::Open
    }

    /// Whether a team's invitation may make a new user.
    pub fn invitations_open(self) -> bool {
        self != Registration::Closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_round_trip() {
        for r in Registration::ALL {
            assert_eq!(Registration::parse(r.as_str()), Some(r));
        }
        assert_eq!(Registration::parse("Open"), None);
    }
}
