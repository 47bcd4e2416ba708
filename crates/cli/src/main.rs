//! `astro-deploy`: deploy Apache Airflow projects to Astronomer's Astro from CI.
//!
//! The binary is the only place that reads flags and the environment, prints, and exits. It
//! turns them into the core's inputs, renders the core's outcome, and maps failures to the exit
//! codes documented in the README (see [`exit`]).

mod args;
mod commands;
mod config;
mod exit;
mod logging;
mod report;

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let args = args::Cli::parse();
    logging::init(&args.global);
    let json = args.global.output == args::OutputFormat::Json;

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            return exit::report(
                &exit::Failure::internal("starting the async runtime", error),
                json,
            )
        }
    };

    match runtime.block_on(commands::run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(failure) => exit::report(&failure, json),
    }
}
