//! `wharf-broker`: parses configuration and runs the broker.

fn main() {
    eprintln!("wharf-broker: the server is being built (see README)");
}
