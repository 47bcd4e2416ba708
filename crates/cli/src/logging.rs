//! Logs on stderr through `tracing`: plain lines, no timestamps (CI logs carry their own).

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::args::GlobalArgs;

/// `ASTRO_DEPLOY_LOG` (a `tracing` filter such as `debug` or `astro_api=trace`) wins over the
/// flags.
pub fn init(args: &GlobalArgs) {
    let level = match (args.quiet, args.verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_env("ASTRO_DEPLOY_LOG").unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "warn,astro_deploy={level},deploy={level},astro_api={level},emulator={level}"
        ))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .with_target(false)
        .init();
}
