//! Start-up without std's runtime: `main.rs` defines the C `main` itself
//! (`no_main`), so a command starts with what it needs and no more.
//!
//! std's start-up made some twenty system calls before the first line of
//! ours: it reads `/proc/self/maps` (the kernel formats the whole map) to
//! place the main thread's stack guard, and sets up an alternate signal stack
//! and SIGSEGV/SIGBUS handlers, to print a message on a stack overflow
//! instead of dying of the signal. A command that scripts call many times a
//! second paid that on every start (docs/benchmark-findings.md). What of it
//! matters is done here: SIGPIPE ignored, so a closed pipe is a write error
//! and not a silent death, and the standard descriptors made sure to be
//! open, so a file opened later never becomes someone's stdout. Arguments
//! and environment need nothing: on glibc std takes them from the C runtime
//! before `main`.

/// Does what std's runtime start-up did that the program relies on.
pub fn prepare() {
    // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    open_standard_fds();
}

/// Opens `/dev/null` on whichever of fds 0, 1 and 2 is closed.
fn open_standard_fds() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: poll reads and writes the three pollfds given.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    if polled <= 0 {
        return;
    }
    for pollfd in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        // SAFETY: open with a NUL-terminated path; the lowest free fd is the
        // closed standard one, being filled in order.
        let opened = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        if opened >= 0 && opened != pollfd.fd {
            // SAFETY: dup2 onto the standard fd, then close the spare.
            unsafe {
                libc::dup2(opened, pollfd.fd);
                libc::close(opened);
            }
        }
    }
}
