//! Failures as the user sees them (`error:`, its causes, a `hint:`) and the exit codes.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (also a dry run whose checks passed) |
//! | 1 | an unexpected internal error |
//! | 2 | wrong usage: unknown flag, missing argument |
//! | 3 | bad input: the project, a file or a setting |
//! | 4 | authentication: the token is missing, malformed, expired, refused or not allowed |
//! | 5 | not found: the Deployment or Workspace does not exist, or a name is ambiguous |
//! | 6 | refused: Astro refuses the deploy, or would (DAG deploys off, CI/CD enforced) |
//! | 7 | not healthy: the deploy took effect but the Deployment did not run it in time |
//! | 8 | unavailable: the network, Astro, the storage or the registry failed, even after retries |
//! | 9 | a check failed inside the built image (`--pytest`, `--parse`): nothing was pushed |
//! | 10 | denied by the deploy policy: nothing was changed |

use std::error::Error as StdError;
use std::process::ExitCode;

use deploy::{DeployError, FailureKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Internal = 1,
    Input = 3,
    Authentication = 4,
    NotFound = 5,
    Refused = 6,
    NotHealthy = 7,
    Unavailable = 8,
    CheckFailed = 9,
    Denied = 10,
}

/// A failure of a command, ready to print.
#[derive(Debug)]
pub struct Failure {
    pub code: Code,
    pub message: String,
    pub causes: Vec<String>,
    pub hint: Option<String>,
}

impl Failure {
    fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            causes: Vec::new(),
            hint: None,
        }
    }

    pub fn with_code(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, message)
    }

    pub fn input(message: impl Into<String>) -> Self {
        Self::new(Code::Input, message)
    }

    pub fn authentication(message: impl Into<String>) -> Self {
        Self::new(Code::Authentication, message)
    }

    pub fn internal(context: &str, error: impl StdError) -> Self {
        Self::new(Code::Internal, context).with_cause(&error)
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds the error and its sources as causes.
    pub fn with_cause(mut self, error: &dyn StdError) -> Self {
        let mut next = Some(error);
        while let Some(error) = next {
            let text = error.to_string();
            if !self.causes.contains(&text) && text != self.message {
                self.causes.push(text);
            }
            next = error.source();
        }
        self
    }

    pub fn from_api(error: astro_api::Error) -> Self {
        Self::from_deploy(DeployError::Api(error))
    }

    pub fn from_deploy(error: DeployError) -> Self {
        let code = match error.kind() {
            FailureKind::Input => Code::Input,
            FailureKind::Authentication => Code::Authentication,
            FailureKind::NotFound => Code::NotFound,
            FailureKind::Refused => Code::Refused,
            FailureKind::NotHealthy => Code::NotHealthy,
            FailureKind::Unavailable => Code::Unavailable,
            FailureKind::CheckFailed => Code::CheckFailed,
            FailureKind::Denied => Code::Denied,
            FailureKind::Internal => Code::Internal,
        };
        let hint = error.hint();
        let failure = Self::new(code, error.to_string());
        let failure = match error.source() {
            Some(source) => failure.with_cause(source),
            None => failure,
        };
        Self { hint, ..failure }
    }
}

/// Prints a failure on stderr (and, for `--output json`, as a JSON object on stdout, so that
/// scripts always get one object) and gives its exit code.
pub fn report(failure: &Failure, json: bool) -> ExitCode {
    if json {
        let object = serde_json::json!({
            "error": {
                "message": failure.message,
                "causes": failure.causes,
                "hint": failure.hint,
                "exitCode": failure.code as u8,
            }
        });
        println!("{object:#}");
    }

    let mut text = format!("error: {}\n", failure.message);
    for cause in &failure.causes {
        text.push_str(&format!("  caused by: {cause}\n"));
    }
    if let Some(hint) = &failure.hint {
        text.push_str(&format!("hint: {hint}\n"));
    }
    eprint!("{text}");
    ExitCode::from(failure.code as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploy_errors_keep_their_causes_and_hints() {
        let error = DeployError::Bundle(deploy::bundle::BundleError::SymlinkLeavesProject {
            link: "dags/x".into(),
            target: "/etc".into(),
        });
        let failure = Failure::from_deploy(error);

        assert_eq!(failure.code, Code::Input);
        assert_eq!(failure.message, "building the DAG bundle");
        assert_eq!(
            failure.causes,
            ["the symlink `dags/x` points outside the project (to `/etc`)"]
        );
        assert!(failure.hint.unwrap().contains("relative path"));
    }
}
