//! `wharf`: the command-line client.

fn main() {
    eprintln!("wharf: the CLI is being built (see README)");
}
