//! `cutover providers schema -json`: every schema cutover knows (resources, data sources,
//! provider settings, `cluster` blocks, assertion checks) with their validators, in the shape
//! of `terraform providers schema -json`. Needs no configuration.

use std::io::Write as _;

use crate::providers::Registry;
use crate::settings::ExitStatus;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum ProvidersCommand {
    /// Print the schemas of every provider as JSON (-json)
    Schema(SchemaArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct SchemaArgs {
    /// Print as JSON (required, as in Terraform)
    #[arg(long)]
    pub json: bool,
}

pub fn run(command: &ProvidersCommand) -> anyhow::Result<ExitStatus> {
    match command {
        ProvidersCommand::Schema(args) => {
            if !args.json {
                eprintln!(
                    "error: providers schema needs -json: cutover providers schema -json\n  = hint: the same reference, for reading: docs/resources/*-reference.md"
                );
                return Ok(ExitStatus::Error);
            }
            let schemas = crate::providers::reference::schemas_json(&Registry::builtin());
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{}", serde_json::to_string_pretty(&schemas)?)?;
            Ok(ExitStatus::Success)
        }
    }
}
