//! Consumer groups for stateless consumers.
