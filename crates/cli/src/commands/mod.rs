//! The commands, each turning its flags into the core's inputs and rendering the outcome.

mod ci_preview;
mod demo;
mod deploy;
mod deployment;
mod emulator;
mod github;
mod gitlab;
mod hosts;
mod infer;
mod monorepo;
mod policy;
mod preview;
mod token;

use crate::args::{CiCommand, Cli, Command};
use crate::exit::Failure;

pub async fn run(cli: Cli) -> Result<(), Failure> {
    let format = cli.global.output;
    match cli.command {
        Command::Deploy(args) => deploy::run(*args, format).await,
        Command::Plan(args) => monorepo::plan(args, format).await,
        Command::Ci(CiCommand::Github(args)) => github::run(*args, format).await,
        Command::Ci(CiCommand::Gitlab(args)) => gitlab::run(*args, format).await,
        Command::Ci(CiCommand::GithubPreview(command)) => github::preview(command, format).await,
        Command::Ci(CiCommand::GitlabPreview(command)) => gitlab::preview(command, format).await,
        Command::Preview(command) => preview::run(command, format).await,
        Command::Policy(command) => policy::run(command, format).await,
        Command::Token(command) => token::run(command, format).await,
        Command::Emulator(args) => emulator::run(args).await,
        Command::Demo(args) => demo::run(args, format).await,
        Command::Deployment(command) => deployment::run(command, format).await,
    }
}
