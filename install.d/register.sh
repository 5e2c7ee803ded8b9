# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# Registration with the container engines, sourced by install.sh
# (which defines PREFIX, BINDIR, DRY_RUN, DOCKER_DEFAULT, say, run).
#
# Everything changed outside the files `make install` owns is recorded under
# $MG_STATE_DIR so that `install.sh --uninstall` removes exactly that:
#   manifest              "dir PATH" (created by us), "file PATH" (edited by us)
#   orig/<key>            the file as it was before our first edit, or
#   orig/<key>.absent     when it did not exist
#   ours/<key>.sha256     the content we wrote last
# On uninstall a file still holding exactly our content is put back byte for
# byte; one edited since is cleaned of our keys only.

MG_STATE_DIR=/var/lib/oci-memguard
DOCKER_JSON=/etc/docker/daemon.json
DOCKER_INIT_DEFAULTS=/etc/default/docker
DOCKER_DROPIN=/etc/systemd/system/docker.service.d/oci-memguard.conf
RUNTIME_NAME=oci-memguard

mg_key() { printf '%s' "${1//\//%}"; }

manifest_has() { [[ -f "$MG_STATE_DIR/manifest" ]] && grep -qxF -- "$1" "$MG_STATE_DIR/manifest"; }
manifest_add() {
	manifest_has "$1" && return 0
	((DRY_RUN)) && return 0
	mkdir -p "$MG_STATE_DIR"
	chmod 0700 "$MG_STATE_DIR"
	echo "$1" >>"$MG_STATE_DIR/manifest"
}

# record_missing_dirs DIR...: remember the directories install will create.
record_missing_dirs() {
	local d
	for d in "$@"; do
		[[ -e "$d" ]] || manifest_add "dir $d"
	done
}

# edit_file PATH NEWFILE: replaces PATH with NEWFILE's content (atomically,
# keeping an existing file's mode), remembering the original once.
edit_file() {
	local path="$1" new="$2" key
	key=$(mg_key "$path")
	if [[ -f "$path" ]] && cmp -s "$path" "$new"; then
		return 0
	fi
	if ((DRY_RUN)); then
		echo "would write $path:"
		if [[ -f "$path" ]]; then diff -u "$path" "$new" | sed 's/^/    /' || true; else sed 's/^/    /' "$new"; fi
		return 0
	fi
	mkdir -p "$MG_STATE_DIR/orig" "$MG_STATE_DIR/ours"
	chmod 0700 "$MG_STATE_DIR"
	if ! manifest_has "file $path"; then
		if [[ -e "$path" ]]; then
			cp -p "$path" "$MG_STATE_DIR/orig/$key"
		else
			: >"$MG_STATE_DIR/orig/$key.absent"
		fi
		manifest_add "file $path"
	fi
	local d
	d=$(dirname "$path")
	[[ -d "$d" ]] || { manifest_add "dir $d"; mkdir -p "$d"; }
	local tmp="$path.oci-memguard.tmp"
	cp "$new" "$tmp"
	if [[ -e "$path" ]]; then chmod --reference="$path" "$tmp"; else chmod 0644 "$tmp"; fi
	mv -f "$tmp" "$path"
	sha256sum <"$path" | cut -d' ' -f1 >"$MG_STATE_DIR/ours/$key.sha256"
	say "updated $path"
}

# revert_file PATH CLEANUP-FUNCTION: puts PATH back as it was, or, when it
# changed since we wrote it, lets CLEANUP-FUNCTION PATH OUT remove our part.
revert_file() {
	local path="$1" cleanup="$2" key ours
	key=$(mg_key "$path")
	manifest_has "file $path" || return 0
	ours=$(cat "$MG_STATE_DIR/ours/$key.sha256" 2>/dev/null || true)
	if [[ -f "$path" && "$(sha256sum <"$path" | cut -d' ' -f1)" == "$ours" ]]; then
		if [[ -e "$MG_STATE_DIR/orig/$key.absent" ]]; then
			run rm -f "$path"
		else
			run cp -p "$MG_STATE_DIR/orig/$key" "$path"
		fi
		say "restored $path"
	elif [[ -f "$path" ]]; then
		local out
		out=$(mktemp)
		if "$cleanup" "$path" "$out" && ! cmp -s "$path" "$out"; then
			if ((DRY_RUN)); then
				echo "would remove oci-memguard's part of $path (changed since install.sh wrote it)"
			else
				cat "$out" >"$path"
				say "removed oci-memguard's part of $path (it changed since install.sh wrote it, kept the rest)"
			fi
		fi
		rm -f "$out"
	fi
}

# ---- Docker ------------------------------------------------------------

docker_json_cleanup() {
	jq --arg n "$RUNTIME_NAME" 'del(.runtimes[$n])
		| if .["default-runtime"] == $n then del(.["default-runtime"]) else . end
		| if .runtimes == {} then del(.runtimes) else . end' "$1" >"$2"
}

docker_defaults_cleanup() {
	sed '/^# >>> oci-memguard/,/^# <<< oci-memguard/d' "$1" >"$2"
}

register_docker() {
	if ! command -v dockerd >/dev/null && [[ ! -d /etc/docker ]]; then
		say "Docker: not found, skipped"
		return 0
	fi
	local wrapper="$BINDIR/oci-memguard-runtime" new cur='{}'
	new=$(mktemp)
	[[ -s "$DOCKER_JSON" ]] && cur=$(cat "$DOCKER_JSON")
	if ! jq -e . >/dev/null 2>&1 <<<"$cur"; then
		echo "install.sh: $DOCKER_JSON is not valid JSON; not changing it. Add: \"runtimes\": {\"$RUNTIME_NAME\": {\"path\": \"$wrapper\"}}" >&2
		rm -f "$new"
		return 0
	fi
	# jq, never sed: every other key is kept as it is.
	jq --arg n "$RUNTIME_NAME" --arg p "$wrapper" --argjson dflt "$DOCKER_DEFAULT" '
		if (.runtimes[$n].path == $p) and ($dflt == 0 or .["default-runtime"] == $n) then .
		else .runtimes = ((.runtimes // {}) + {($n): {path: $p}})
			| if $dflt == 1 then .["default-runtime"] = $n else . end
		end' <<<"$cur" >"$new"
	if [[ -f "$DOCKER_JSON" ]] && jq -e --slurpfile a "$new" '. == $a[0]' "$DOCKER_JSON" >/dev/null; then
		: # already registered: not even reformatted
	else
		edit_file "$DOCKER_JSON" "$new"
	fi
	rm -f "$new"

	# BuildKit ignores "runtimes" and runs the `runc` first on dockerd's
	# PATH (Docker 20.10 has no DOCKER_BUILDKIT_RUNC_COMMAND): put the shim
	# directory first there.
	local shim="$PREFIX/lib/oci-memguard/shim"
	if [[ -d /run/systemd/system ]] && systemctl cat docker.service >/dev/null 2>&1; then
		new=$(mktemp)
		printf '# oci-memguard: BuildKit runs the first "runc" on PATH; this one adds the hook.\n[Service]\nEnvironment="PATH=%s:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"\n' "$shim" >"$new"
		edit_file "$DOCKER_DROPIN" "$new"
		rm -f "$new"
		run systemctl daemon-reload
		say "Docker: restart it to use the shim and the runtime: systemctl restart docker"
	elif [[ -f "$DOCKER_INIT_DEFAULTS" ]] && grep -q '/etc/default' /etc/init.d/docker 2>/dev/null; then
		new=$(mktemp)
		docker_defaults_cleanup "$DOCKER_INIT_DEFAULTS" "$new"
		# shellcheck disable=SC2016 # $PATH is for the init script to expand
		printf '# >>> oci-memguard: BuildKit runs the first "runc" on PATH; this one adds the hook\nexport PATH="%s:$PATH"\n# <<< oci-memguard\n' "$shim" >>"$new"
		edit_file "$DOCKER_INIT_DEFAULTS" "$new"
		rm -f "$new"
		say "Docker: restart it to use the shim and the runtime: service docker restart"
	else
		say "Docker: BuildKit steps need dockerd started with PATH=$shim:\$PATH (no systemd or init script found to set it)"
	fi
	say "Docker: containers started with --runtime $RUNTIME_NAME$( ((DOCKER_DEFAULT)) && echo ', and by default (classic builder steps too)') get the hook"
}

unregister_docker() {
	revert_file "$DOCKER_JSON" docker_json_cleanup
	revert_file "$DOCKER_INIT_DEFAULTS" docker_defaults_cleanup
	if manifest_has "file $DOCKER_DROPIN"; then
		revert_file "$DOCKER_DROPIN" false
		[[ -d /run/systemd/system ]] && run systemctl daemon-reload
	fi
}

# ---- containerd, CRI-O, Podman, runc -------------------------------------

register_others() {
	local hooksd="/usr/share/containers/oci/hooks.d"
	if command -v podman >/dev/null || command -v crio >/dev/null || command -v buildah >/dev/null; then
		say "Podman/CRI-O/Buildah: hooks in $hooksd (oci-memguard-prestart.json, oci-memguard-poststop.json)"
	fi
	if command -v containerd >/dev/null; then
		cat <<-EOT
			install.sh: containerd: config.toml is not edited automatically. To route a runtime through
			  the wrapper, add to /etc/containerd/config.toml (see examples/containerd/config.toml) and restart:
			    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
			      BinaryName = "$BINDIR/oci-memguard-runtime"
			  ctr: ctr run --runc-binary $BINDIR/oci-memguard-runtime ...   CRI nodes: NRI is the alternative.
		EOT
	fi
}

register_engines() {
	register_docker
	register_others
}

unregister_engines() {
	unregister_docker
}

# remove_runtime_state: the hook's state dir (lock, ledger, records) when
# install created it and no container still holds a record: with the hook
# gone, nothing would ever give back what such a record holds.
remove_runtime_state() {
	local d=/run/oci-memguard n
	[[ -d "$d" ]] && manifest_has "dir $d" || return 0
	n=0
	[[ -d "$d/containers" ]] && n=$(find "$d/containers" -maxdepth 1 -name '*.json' | wc -l)
	if ((n > 0)); then
		say "kept $d: $n container(s) still hold a record; stop them (their poststop gives the protection back) and remove it"
		return 0
	fi
	run rm -rf "$d"
}

# purge_data (--purge): the log and the admin policy directory, when install
# created them.
purge_data() {
	local d
	for d in /var/log/oci-memguard /etc/oci-memguard; do
		[[ -d "$d" ]] && manifest_has "dir $d" && run rm -rf "$d"
	done
	true
}

# remove_recorded_dirs: rmdir, deepest first, what install created (kept
# with a note when something else is inside).
remove_recorded_dirs() {
	[[ -f "$MG_STATE_DIR/manifest" ]] || return 0
	local d
	while read -r d; do
		[[ -d "$d" ]] || continue
		if ((DRY_RUN)); then
			echo "would remove directory $d (if empty)"
		elif ! rmdir "$d" 2>/dev/null; then
			say "kept $d (not empty)"
		fi
	done < <(sed -n 's/^dir //p' "$MG_STATE_DIR/manifest" | awk '{print length, $0}' | sort -rn | cut -d' ' -f2-)
}
