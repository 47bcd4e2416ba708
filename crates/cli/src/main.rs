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
    quiet_on_closed_stdout();
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

/// `astro-deploy deployment inspect | head` closes stdout early. Rust ignores SIGPIPE, so the
/// next `println!` panics instead of the process ending quietly as a Unix filter does; the
/// signal stays ignored (the emulator and the clients write to sockets), and that one panic
/// becomes the shell's usual exit for a closed pipe (128 + SIGPIPE). Every other panic is
/// reported as before.
fn quiet_on_closed_stdout() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        report(info);
    }));
}
