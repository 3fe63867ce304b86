//! The container executor against real Docker and Podman engines.
