//! The SSH executor against a real OpenSSH server on loopback.
