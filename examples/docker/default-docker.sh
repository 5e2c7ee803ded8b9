# Appended to /etc/default/docker on hosts without systemd (Debian's
# /etc/init.d/docker sources it after setting PATH): BuildKit's `runc run`
# then goes through the shim. Then: service docker restart
# >>> oci-memguard
export PATH="/usr/local/lib/oci-memguard/shim:$PATH"
# <<< oci-memguard
