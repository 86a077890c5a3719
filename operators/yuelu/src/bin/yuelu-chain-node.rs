//! `yuelu-chain-node`: the same node as `yuelu node`, as a binary of this crate alone.
//!
//! It exists for the benchmark: an optimized node builds in minutes without building the
//! whole platform (API, controller) in release mode. Deployments use `yuelu node`.

use clap::Parser;
use std::process::ExitCode;

/// One node of a built-in (yuelu engine) chain.
#[derive(Debug, Parser)]
#[command(name = "yuelu-chain-node")]
struct Cli {
    /// Log filter, in tracing's EnvFilter syntax.
    #[arg(long, env = "YUELU_LOG", default_value = "info")]
    log: String,
    #[command(flatten)]
    node: yuelu_chain::node::NodeArgs,
}

fn main() -> ExitCode {
    // Accept the plan's arguments as they are (`node --config ...`), like `yuelu node`.
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "node") {
        argv.remove(1);
    }
    let cli = Cli::parse_from(argv);
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(yuelu_chain::node::run(cli.node)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error [{}]: {e}", e.code());
            ExitCode::FAILURE
        }
    }
}
