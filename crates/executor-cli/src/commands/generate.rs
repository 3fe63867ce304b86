//! `completions` and `man`: generated from the same clap definition as `--help`.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::exit::{CliError, code};

pub fn completions(args: CompletionsArgs) -> Result<u8, CliError> {
    let mut command = Cli::command();
    clap_complete::generate(
        args.shell,
        &mut command,
        "openclaw-agent",
        &mut std::io::stdout().lock(),
    );
    Ok(code::OK)
}

pub fn man() -> Result<u8, CliError> {
    clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout().lock())?;
    Ok(code::OK)
}
