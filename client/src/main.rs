//! `wharf`: the command-line client (all logic lives in `wharf_client::cli`).

fn main() -> std::process::ExitCode {
    wharf_client::cli::main()
}
