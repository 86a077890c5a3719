//! `yuelu`: the one binary of the platform. Parses arguments and dispatches; the work is done
//! by the crates (`yuelu-api`, `yuelu-controller`, `yuelu-chain`).

use clap::{Parser, Subcommand};
use std::error::Error;
use std::process::ExitCode;

/// Yuelu (岳麓): a blockchain-as-a-service control plane for consortium chains.
#[derive(Debug, Parser)]
#[command(name = "yuelu", version, propagate_version = true)]
struct Cli {
    /// Log filter, in tracing's EnvFilter syntax (e.g. `info`, `yuelu_api=debug,info`).
    #[arg(long, global = true, env = "YUELU_LOG", default_value = "info")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole platform on this machine with embedded defaults (SQLite, local runtime).
    Up(yuelu_api::ServeArgs),
    /// Run the platform API server (GraphQL, console, CA) on its own, e.g. in a cluster.
    Api(yuelu_api::ServeArgs),
    /// Run the Kubernetes controller for ChainNetwork and ChainMember.
    Controller(yuelu_controller::ControllerArgs),
    /// Run one node of a built-in (yuelu engine) chain.
    Node(yuelu_chain::node::NodeArgs),
    /// Print the CustomResourceDefinitions as YAML.
    Crd,
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Print the version.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|e| {
        eprintln!("warning: ignoring --log {:?}: {e}", cli.log);
        tracing_subscriber::EnvFilter::new("info")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    // One rustls crypto provider for the whole process (kube, sqlx, HTTP clients), chosen here
    // rather than left to feature unification.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&e),
    };
    let result: Result<(), Box<dyn Error>> = runtime.block_on(async {
        match cli.command {
            Command::Up(args) => yuelu_api::up(args, engines()).await?,
            Command::Api(args) => yuelu_api::serve(args, engines()).await?,
            Command::Controller(args) => yuelu_controller::run(args).await?,
            Command::Node(args) => yuelu_chain::node::run(args).await?,
            Command::Crd => print!("{}", yuelu_controller::crd_yaml()?),
            Command::Schema => print!("{}", yuelu_api::schema_sdl()),
            Command::Version => println!("yuelu {}", env!("CARGO_PKG_VERSION")),
        }
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e.as_ref()),
    }
}

/// The chain engines this build offers.
fn engines() -> yuelu_engine::EngineRegistry {
    let mut r = yuelu_engine::EngineRegistry::new();
    r.register(Box::new(yuelu_chain::YueluEngine::new()));
    r
}

/// Prints an error with its causes, one per line, and returns the failure exit code.
fn fail(e: &dyn Error) -> ExitCode {
    eprintln!("error: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        eprintln!("  caused by: {s}");
        source = s.source();
    }
    ExitCode::FAILURE
}
