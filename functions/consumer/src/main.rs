//! The Wharf consumer Lambda function.

fn main() {
    eprintln!("wharf-consumer: being built (see README)");
}
