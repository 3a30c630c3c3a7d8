//! The Wharf producer Lambda function.

fn main() {
    eprintln!("wharf-producer: being built (see README)");
}
