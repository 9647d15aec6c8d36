//! What every command gets besides its own arguments: the [`Settings`] resolved once from the
//! global flags and the environment, and the [`ExitStatus`] a command ends with. Below `cli`
//! (which builds the settings from the parsed command line) and below `commands` (which take
//! them), so neither imports the other for them.

use std::path::PathBuf;

use crate::config::inputs::CommandLineVar;
use crate::state::{EncryptionSettings, KeySettings};

/// Exit codes shared by every command (see README.md, "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Success, or no changes.
    Success = 0,
    /// A user error (bad input, bad configuration) or an unexpected failure.
    Error = 1,
    /// `plan -detailed-exitcode`: changes are present.
    ChangesPresent = 2,
    /// An assertion did not hold (or `fmt -check` found files to format).
    AssertionFailed = 3,
}

/// Everything a command needs from the command line and the environment, resolved once.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config_dir: PathBuf,
    /// `-var` and `-var-file` in the order given.
    pub command_line_vars: Vec<CommandLineVar>,
    /// `CUTOVER_VAR_*` environment variables.
    pub environment_vars: Vec<(String, String)>,
    /// `-eval-budget` / `CUTOVER_EVAL_BUDGET`: the factor of the evaluation budget.
    pub eval_budget: u32,
    /// Where the state key comes from (`CUTOVER_STATE_KEY`, its file, `XDG_CONFIG_HOME`,
    /// `HOME`).
    pub state_key: KeySettings,
    /// The key state and saved plans are encrypted with, if any (`CUTOVER_ENCRYPTION_*`).
    pub encryption: EncryptionSettings,
}

impl Settings {
    /// The settings of one run: `chdir` and `eval_budget` as clap parsed them, `raw_args` the
    /// normalized arguments (for the order of `-var` and `-var-file`), and the environment.
    pub fn resolve(chdir: Option<PathBuf>, eval_budget: u32, raw_args: &[String]) -> Self {
        Settings {
            config_dir: chdir.unwrap_or_else(|| PathBuf::from(".")),
            command_line_vars: ordered_var_arguments(raw_args),
            environment_vars: std::env::vars()
                .filter(|(key, _)| key.starts_with("CUTOVER_VAR_"))
                .collect(),
            eval_budget,
            state_key: KeySettings::from_env(),
            encryption: EncryptionSettings::from_env(),
        }
    }
}

/// `-var` and `-var-file` interleave and later ones win, so their relative order matters; clap
/// keeps each list separately, so the order is recovered from the arguments themselves.
fn ordered_var_arguments(args: &[String]) -> Vec<CommandLineVar> {
    let mut ordered = Vec::new();
    let mut iter = args.iter().peekable();
    while let Some(arg) = iter.next() {
        if arg == "--" {
            break;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag == "--var" || flag == "--var-file" => {
                (flag, Some(value.to_owned()))
            }
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| iter.peek().map(|v| v.to_string()))
        };
        match flag {
            "--var" => {
                if let Some(value) = value() {
                    ordered.push(CommandLineVar::Assignment(value));
                }
            }
            "--var-file" => {
                if let Some(value) = value() {
                    ordered.push(CommandLineVar::File(PathBuf::from(value)));
                }
            }
            _ => {}
        }
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn var_and_var_file_keep_their_relative_order() {
        let ordered = ordered_var_arguments(&strings(&[
            "cutover",
            "validate",
            "--var",
            "a=1",
            "--var-file",
            "x.vars.hcl",
            "--var=a=2",
        ]));
        let shown: Vec<String> = ordered
            .iter()
            .map(|item| match item {
                CommandLineVar::Assignment(text) => format!("var {text}"),
                CommandLineVar::File(path) => format!("file {}", path.display()),
                CommandLineVar::Saved(name, _) => format!("saved {name}"),
            })
            .collect();
        assert_eq!(shown, vec!["var a=1", "file x.vars.hcl", "var a=2"]);
    }
}
