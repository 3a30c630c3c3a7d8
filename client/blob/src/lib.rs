//! Blob storage for claim checks.
