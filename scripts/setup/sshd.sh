# Sourced by scripts/test: the OpenSSH server and client the SSH tests start
# their own private servers with (on 127.0.0.1, see test-support/src/sshd.rs).
if [ ! -x /usr/sbin/sshd ] || ! command -v ssh-keygen >/dev/null 2>&1; then
    apt_install openssh-server openssh-client
fi
need ssh "openssh-client"
need base64 "coreutils"
mkdir -p /run/sshd 2>/dev/null || true
