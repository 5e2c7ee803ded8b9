#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# gen-fixture.sh DIR: the fixture host `make bench` runs the hook against
# (--sysroot DIR/root).  DIR should be on tmpfs (/dev/shm), as /run is in
# production.  Made once, untimed, with jq.
#
#   DIR/root                   a cgroup v2 host (memory_recursiveprot): a
#                              realistic mountinfo (~30 lines), meminfo, vmstat,
#                              buddyinfo/zoneinfo of a healthy host, the vm
#                              sysctls, a systemd-style cgroup tree with
#                              Docker and Podman containers, /proc/<pid> of
#                              each, Docker's containers/<id>/config.v2.json,
#                              containers-storage's containers.json
#   DIR/bundles/docker         config.json as dockerd 20.10 writes it (systemd
#                              cgroup driver, default seccomp profile, ~30
#                              mounts, libnetwork-setkey prestart hook)
#   DIR/bundles/podman         config.json as podman 4 writes it
#   DIR/bundles/build          a BuildKit build step (bundle under
#                              buildkit/executor/, hostname buildkitsandbox)
#   DIR/bundles/bg-N           the running neighbours (records in the ledger)
#   DIR/bundles/conc-N         the containers that start at once (conc/*.json)
#   DIR/scale/N.json           the states of up to MEMGUARD_BENCH_SCALE_MAX
#                              (1000) more running Docker containers, for the
#                              scaling table: one shared bundle, each its own
#                              pid and scope (the hook takes the cgroup from
#                              /proc/<pid>/cgroup)
#   DIR/policies/pN            N policy files (1, 10, 100, 1000); 2 of them
#                              match the Docker container (N>=10)
#   DIR/policies/build         the build-guard policy (reclaim when=auto)
#   DIR/state/*.json           the state JSON each hook gets on stdin
#   DIR/env                    shell variables for run.sh
set -euo pipefail

DIR="${1:?usage: gen-fixture.sh DIR}"
BG="${MEMGUARD_BENCH_NEIGHBOURS:-10}"
SCALE_MAX="${MEMGUARD_BENCH_SCALE_MAX:-1000}"
CONC="${MEMGUARD_BENCH_CONC:-64}"
rm -rf "$DIR"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
R="$DIR/root"
CG="$R/sys/fs/cgroup"
mkdir -p "$R"/{proc/self,proc/sys/vm,run,var/log,etc/oci-memguard/policy.d,usr/share/oci-memguard/policy.d} "$CG" \
	"$DIR"/{bundles,policies,state}

hexid() { # hexid SEED: a 64-hex id like Docker's
	printf '%s' "$1" | sha256sum | cut -c1-64
}

DOCKER_ID="$(hexid docker-api)"
PODMAN_ID="$(hexid podman-db)"
BUILD_ID="$(printf '%s' build | sha256sum | cut -c1-25)"
DOCKER_PID=31337
PODMAN_PID=31338
BUILD_PID=31339
DOCKER_CG="/system.slice/docker-$DOCKER_ID.scope"
PODMAN_CG="/machine.slice/libpod-$PODMAN_ID.scope/container"
BUILD_CG="/docker/buildkit/$BUILD_ID"
IMAGE="registry.example.com/shop/api:1.42.0"
LAYER="$(hexid layer-api)"

# ---- /proc ------------------------------------------------------------------
cat >"$R/proc/self/mountinfo" <<'EOF'
22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
23 28 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
24 28 0:5 / /dev rw,nosuid,relatime shared:2 - devtmpfs udev rw,size=8123456k,nr_inodes=2030864,mode=755,inode64
25 24 0:23 / /dev/pts rw,nosuid,noexec,relatime shared:3 - devpts devpts rw,gid=5,mode=620,ptmxmode=000
26 28 0:24 / /run rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs rw,size=1631232k,mode=755,inode64
28 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro
29 22 0:6 / /sys/kernel/security rw,nosuid,nodev,noexec,relatime shared:8 - securityfs securityfs rw
30 24 0:25 / /dev/shm rw,nosuid,nodev shared:4 - tmpfs tmpfs rw,inode64
31 26 0:26 / /run/lock rw,nosuid,nodev,noexec,relatime shared:6 - tmpfs tmpfs rw,size=5120k,inode64
32 22 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
33 22 0:28 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:10 - pstore pstore rw
34 22 0:29 / /sys/firmware/efi/efivars rw,nosuid,nodev,noexec,relatime shared:11 - efivarfs efivarfs rw
35 22 0:30 / /sys/fs/bpf rw,nosuid,nodev,noexec,relatime shared:13 - bpf bpf rw,mode=700
36 23 0:31 / /proc/sys/fs/binfmt_misc rw,relatime shared:14 - autofs systemd-1 rw,fd=30,pgrp=1,timeout=0,minproto=5,maxproto=5,direct,pipe_ino=15316
37 24 0:19 / /dev/mqueue rw,nosuid,nodev,noexec,relatime shared:15 - mqueue mqueue rw
38 24 0:32 / /dev/hugepages rw,relatime shared:16 - hugetlbfs hugetlbfs rw,pagesize=2M
39 22 0:7 / /sys/kernel/debug rw,nosuid,nodev,noexec,relatime shared:17 - debugfs debugfs rw
40 22 0:12 / /sys/kernel/tracing rw,nosuid,nodev,noexec,relatime shared:18 - tracefs tracefs rw
41 22 0:33 / /sys/fs/fuse/connections rw,nosuid,nodev,noexec,relatime shared:19 - fusectl fusectl rw
42 22 0:20 / /sys/kernel/config rw,nosuid,nodev,noexec,relatime shared:20 - configfs configfs rw
60 28 254:2 / /boot rw,relatime shared:31 - ext4 /dev/vda2 rw
61 28 254:3 / /var/lib/docker rw,relatime shared:32 - ext4 /dev/vdb1 rw
62 26 0:45 / /run/user/1000 rw,nosuid,nodev,relatime shared:330 - tmpfs tmpfs rw,size=1631228k,nr_inodes=407807,mode=700,uid=1000,gid=1000,inode64
70 61 0:50 / /var/lib/docker/overlay2/1f0c3a/merged rw,relatime - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/AB:/var/lib/docker/overlay2/l/CD,upperdir=/var/lib/docker/overlay2/1f0c3a/diff,workdir=/var/lib/docker/overlay2/1f0c3a/work
71 26 0:51 / /run/docker/netns/1a2b3c4d rw shared:340 - nsfs nsfs rw
72 61 0:52 / /var/lib/docker/overlay2/2e9d4b/merged rw,relatime - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/EF:/var/lib/docker/overlay2/l/GH,upperdir=/var/lib/docker/overlay2/2e9d4b/diff,workdir=/var/lib/docker/overlay2/2e9d4b/work
73 26 0:53 / /run/docker/netns/5e6f7a8b rw shared:341 - nsfs nsfs rw
74 28 0:54 / /var/lib/containers/storage/overlay rw,relatime - overlay overlay rw,lowerdir=/var/lib/containers/storage/overlay/l/IJ,upperdir=/var/lib/containers/storage/overlay/3f/diff,workdir=/var/lib/containers/storage/overlay/3f/work
75 26 0:55 / /run/containers/storage/overlay-containers/3f/userdata/shm rw,nosuid,nodev,noexec,relatime shared:342 - tmpfs shm rw,size=64000k,inode64
76 26 0:56 / /run/netns/cni-1b2c rw shared:343 - nsfs nsfs rw
EOF

cat >"$R/proc/meminfo" <<'EOF'
MemTotal:       16318344 kB
MemFree:         6120412 kB
MemAvailable:   12840220 kB
Buffers:          310220 kB
Cached:          6011624 kB
SwapCached:            0 kB
Active:          4812040 kB
Inactive:        4300124 kB
Active(anon):    2801220 kB
Inactive(anon):    20124 kB
Active(file):    2010820 kB
Inactive(file):  4280000 kB
Unevictable:           0 kB
Mlocked:               0 kB
SwapTotal:       2097148 kB
SwapFree:        2097148 kB
Zswap:                 0 kB
Zswapped:              0 kB
Dirty:               812 kB
Writeback:             0 kB
AnonPages:       2790320 kB
Mapped:           612024 kB
Shmem:             31024 kB
KReclaimable:     402112 kB
Slab:             610224 kB
SReclaimable:     402112 kB
SUnreclaim:       208112 kB
KernelStack:       14528 kB
PageTables:        30112 kB
SecPageTables:         0 kB
NFS_Unstable:          0 kB
Bounce:                0 kB
WritebackTmp:          0 kB
CommitLimit:    10256320 kB
Committed_AS:    7012344 kB
VmallocTotal:   34359738367 kB
VmallocUsed:       60124 kB
VmallocChunk:          0 kB
Percpu:             8320 kB
HardwareCorrupted:     0 kB
AnonHugePages:    401408 kB
ShmemHugePages:        0 kB
ShmemPmdMapped:        0 kB
FileHugePages:         0 kB
FilePmdMapped:         0 kB
HugePages_Total:       0
HugePages_Free:        0
HugePages_Rsvd:        0
HugePages_Surp:        0
Hugepagesize:       2048 kB
Hugetlb:               0 kB
DirectMap4k:      401220 kB
DirectMap2M:    12181504 kB
DirectMap1G:     4194304 kB
EOF

{
	for k in nr_free_pages nr_zone_inactive_anon nr_zone_active_anon nr_zone_inactive_file nr_zone_active_file \
		nr_zone_unevictable nr_zone_write_pending nr_mlock nr_bounce nr_zspages nr_free_cma numa_hit numa_miss \
		numa_foreign numa_interleave numa_local numa_other nr_inactive_anon nr_active_anon nr_inactive_file \
		nr_active_file nr_unevictable nr_slab_reclaimable nr_slab_unreclaimable nr_isolated_anon nr_isolated_file \
		workingset_nodes workingset_refault_anon workingset_refault_file workingset_activate_anon \
		workingset_activate_file workingset_restore_anon workingset_restore_file workingset_nodereclaim \
		nr_anon_pages nr_mapped nr_file_pages nr_dirty nr_writeback nr_writeback_temp nr_shmem nr_shmem_hugepages \
		nr_shmem_pmdmapped nr_file_hugepages nr_file_pmdmapped nr_anon_transparent_hugepages nr_vmscan_write \
		nr_vmscan_immediate_reclaim nr_dirtied nr_written nr_throttled_written nr_kernel_misc_reclaimable \
		nr_foll_pin_acquired nr_foll_pin_released nr_kernel_stack nr_page_table_pages nr_sec_page_table_pages \
		nr_swapcached pgpromote_success pgpromote_candidate nr_dirty_threshold nr_dirty_background_threshold \
		pgpgin pgpgout pswpin pswpout pgalloc_dma pgalloc_dma32 pgalloc_normal pgalloc_movable \
		allocstall_dma allocstall_dma32 allocstall_normal allocstall_movable pgskip_dma pgskip_dma32 pgskip_normal \
		pgskip_movable pgfree pgactivate pgdeactivate pglazyfree pgfault pgmajfault pglazyfreed pgrefill \
		pgreuse pgsteal_kswapd pgsteal_direct pgsteal_khugepaged pgdemote_kswapd pgdemote_direct pgscan_kswapd \
		pgscan_direct pgscan_khugepaged pgscan_direct_throttle pgscan_anon pgscan_file pgsteal_anon pgsteal_file \
		zone_reclaim_failed pginodesteal slabs_scanned kswapd_inodesteal kswapd_low_wmark_hit_quickly \
		kswapd_high_wmark_hit_quickly pageoutrun pgrotated drop_pagecache drop_slab oom_kill numa_pte_updates \
		pgmigrate_success pgmigrate_fail thp_migration_success compact_migrate_scanned compact_free_scanned \
		compact_isolated compact_stall compact_fail compact_success compact_daemon_wake \
		compact_daemon_migrate_scanned compact_daemon_free_scanned htlb_buddy_alloc_success \
		htlb_buddy_alloc_fail unevictable_pgs_culled unevictable_pgs_scanned unevictable_pgs_rescued \
		unevictable_pgs_mlocked unevictable_pgs_munlocked unevictable_pgs_cleared unevictable_pgs_stranded \
		thp_fault_alloc thp_fault_fallback thp_collapse_alloc thp_collapse_alloc_failed thp_file_alloc \
		thp_split_page thp_split_pmd thp_zero_page_alloc balloon_inflate balloon_deflate balloon_migrate \
		swap_ra swap_ra_hit direct_map_level2_splits direct_map_level3_splits nr_unstable; do
		echo "$k $(((${#k} * 7919) % 100000))"
	done
} >"$R/proc/vmstat"

cat >"$R/proc/buddyinfo" <<'EOF'
Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      2
Node 0, zone    DMA32   1210    912    640    433    301    180     92     40     21      9    180
Node 0, zone   Normal  20412  14021   9120   5012   2210    990    402    160     61     22    900
EOF
cat >"$R/proc/zoneinfo" <<'EOF'
Node 0, zone   Normal
  pages free     1530103
        min      11264
        low      14080
        high     16896
EOF
echo 60 >"$R/proc/sys/vm/swappiness"
: >"$R/proc/sys/vm/drop_caches"
: >"$R/proc/sys/vm/compact_memory"

# ---- cgroup v2 tree -----------------------------------------------------------
echo "cpuset cpu io memory hugetlb pids rdma misc" >"$CG/cgroup.controllers"
echo "cpuset cpu io memory hugetlb pids" >"$CG/cgroup.subtree_control"
: >"$CG/memory.reclaim"
echo "0" >"$CG/memory.pressure" 2>/dev/null || true
mkcg() { # mkcg PATH: every level with its memory files
	local cur="$CG" comp IFS=/
	for comp in $1; do
		[[ -n "$comp" ]] || continue
		cur="$cur/$comp"
		mkdir -p "$cur"
		[[ -e "$cur/memory.min" ]] || echo 0 >"$cur/memory.min"
		[[ -e "$cur/memory.low" ]] || echo 0 >"$cur/memory.low"
		[[ -e "$cur/memory.max" ]] || echo max >"$cur/memory.max"
		[[ -e "$cur/memory.current" ]] || echo 104857600 >"$cur/memory.current"
		[[ -e "$cur/cgroup.controllers" ]] || echo "cpu io memory pids" >"$cur/cgroup.controllers"
		[[ -e "$cur/cgroup.subtree_control" ]] || echo "cpu io memory pids" >"$cur/cgroup.subtree_control"
		[[ -e "$cur/cgroup.procs" ]] || : >"$cur/cgroup.procs"
	done
}
mkproc() { # mkproc PID CGROUP
	mkdir -p "$R/proc/$1"
	printf '0::%s\n' "$2" >"$R/proc/$1/cgroup"
	echo "$1 (app) S 1 $1 $1 0 -1 4194560 1200 0 0 0 12 4 0 0 20 0 4 0 9001$1 81920000 2400 18446744073709551615 1 1 0 0 0 0 0 4096 17003 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0" >"$R/proc/$1/stat"
}
for u in init.scope system.slice/containerd.service system.slice/docker.service system.slice/ssh.service \
	system.slice/cron.service system.slice/systemd-journald.service system.slice/systemd-udevd.service \
	system.slice/jenkins-agent.service user.slice/user-1000.slice/session-3.scope machine.slice; do
	mkcg "/$u"
done
mkcg "$DOCKER_CG"
mkproc "$DOCKER_PID" "$DOCKER_CG"
mkcg "$PODMAN_CG"
mkproc "$PODMAN_PID" "$PODMAN_CG"
mkcg "$BUILD_CG"
mkproc "$BUILD_PID" "$BUILD_CG"

# ---- Docker metadata ------------------------------------------------------------
DROOT="$R/var/lib/docker"
docker_meta() { # docker_meta ID IMAGE
	local d="$DROOT/containers/$1"
	mkdir -p "$d"
	echo "${1:0:12}" >"$d/hostname"
	printf '127.0.0.1\tlocalhost\n172.17.0.2\t%s\n' "${1:0:12}" >"$d/hosts"
	echo "nameserver 10.0.0.2" >"$d/resolv.conf"
	jq -n --arg id "$1" --arg img "$2" --arg layer "$LAYER" '{
	  StreamConfig: {}, State: {Running: true, Paused: false, Restarting: false, OOMKilled: false, RemovalInProgress: false,
	    Dead: false, Pid: 31337, ExitCode: 0, Error: "", StartedAt: "2026-11-24T06:00:00.123456789Z",
	    FinishedAt: "0001-01-01T00:00:00Z", Health: null},
	  ID: $id, Created: "2026-11-24T05:59:59.987654321Z", Managed: false,
	  Path: "/usr/local/bin/api", Args: ["--listen", ":8080", "--config", "/etc/api/config.yaml"],
	  Config: {Hostname: $id[0:12], Domainname: "", User: "10001", AttachStdin: false, AttachStdout: true, AttachStderr: true,
	    ExposedPorts: {"8080/tcp": {}}, Tty: false, OpenStdin: false, StdinOnce: false,
	    Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "API_ENV=production", "GOMAXPROCS=2",
	          "TZ=UTC", "LANG=C.UTF-8", "SSL_CERT_DIR=/etc/ssl/certs"],
	    Cmd: ["--listen", ":8080", "--config", "/etc/api/config.yaml"], Image: $img,
	    Volumes: {"/var/cache/api": {}}, WorkingDir: "/srv/api", Entrypoint: ["/usr/local/bin/api"], OnBuild: null,
	    Labels: {"org.opencontainers.image.source": "https://git.example.com/shop/api", "org.opencontainers.image.version": "1.42.0",
	             "com.example.team": "shop", "com.docker.compose.project": "shop", "com.docker.compose.service": "api"}},
	  Image: ("sha256:" + ($id | .[0:64])), NetworkSettings: {Bridge: "", SandboxID: ($id + $id)[0:64], HairpinMode: false,
	    LinkLocalIPv6Address: "", LinkLocalIPv6PrefixLen: 0, Networks: {bridge: {IPAMConfig: null, Links: null, Aliases: null,
	      NetworkID: ($layer), EndpointID: ($layer), Gateway: "172.17.0.1", IPAddress: "172.17.0.2", IPPrefixLen: 16,
	      IPv6Gateway: "", GlobalIPv6Address: "", GlobalIPv6PrefixLen: 0, MacAddress: "02:42:ac:11:00:02", DriverOpts: null,
	      IPAMOperational: false}}, Service: null, Ports: {"8080/tcp": [{HostIp: "0.0.0.0", HostPort: "8080"}]},
	    SandboxKey: "/var/run/docker/netns/1a2b3c4d", SecondaryIPAddresses: null, SecondaryIPv6Addresses: null,
	    IsAnonymousEndpoint: true, HasSwarmEndpoint: false},
	  LogPath: ("/var/lib/docker/containers/" + $id + "/" + $id + "-json.log"), Name: "/shop-api-1", Driver: "overlay2",
	  OS: "linux", MountLabel: "", ProcessLabel: "", RestartCount: 0, HasBeenStartedBefore: false,
	  HasBeenManuallyStopped: false, MountPoints: {"/var/cache/api": {Source: "", Destination: "/var/cache/api", RW: true,
	    Name: $layer, Driver: "local", Type: "volume", Relabel: "", Spec: {}, SkipMountpointCreation: false}},
	  SecretReferences: null, ConfigReferences: null, AppArmorProfile: "docker-default",
	  HostnamePath: ("/var/lib/docker/containers/" + $id + "/hostname"),
	  HostsPath: ("/var/lib/docker/containers/" + $id + "/hosts"), ShmPath: "",
	  ResolvConfPath: ("/var/lib/docker/containers/" + $id + "/resolv.conf"), SeccompProfile: "", NoNewPrivileges: false,
	  LocalLogCacheMeta: {HaveNotifyEnabled: false}}' >"$d/config.v2.json"
	jq -n '{Binds: ["/srv/shop/config:/etc/api:ro"], ContainerIDFile: "", LogConfig: {Type: "json-file", Config: {}},
	  NetworkMode: "default", PortBindings: {"8080/tcp": [{HostIp: "", HostPort: "8080"}]}, RestartPolicy: {Name: "unless-stopped",
	  MaximumRetryCount: 0}, AutoRemove: false, CgroupnsMode: "private", Memory: 0, CpuShares: 0}' >"$d/hostconfig.json"
}
docker_meta "$DOCKER_ID" "$IMAGE"

# containers-storage (Podman): <graphroot>/overlay-containers/containers.json
CS="$R/var/lib/containers/storage"
mkdir -p "$CS/overlay/$LAYER/merged" "$CS/overlay-containers"
jq -n --arg id "$PODMAN_ID" --arg layer "$LAYER" '[
  {id: ("0" * 64 | .[0:64]), names: ["old"], image: ("a" * 64), layer: ("b" * 64), metadata: "{\"image-name\":\"docker.io/library/busybox:latest\",\"name\":\"old\"}", created: "2026-11-20T10:00:00Z"},
  {id: $id, names: ["db"], image: ("c" * 64), layer: $layer, metadata: "{\"image-name\":\"docker.io/library/postgres:16\",\"image-id\":\"cccc\",\"name\":\"db\",\"created-at\":1763964000,\"mountlabel\":\"\"}", created: "2026-11-24T06:00:00Z"}
]' >"$CS/overlay-containers/containers.json"

# ---- config.json -------------------------------------------------------------
# Docker's default seccomp profile: every syscall this kernel's headers name,
# in the profile's shape (one big allow list, then conditional rules).
SYSCALLS_JSON="$(sed -n 's/^#define __NR_\([a-z0-9_]*\) .*/\1/p' /usr/include/x86_64-linux-gnu/asm/unistd_64.h | jq -R . | jq -s .)"
CAPS='["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"]'

# common_spec ID ROOTPATH CGROUPSPATH HOSTNAME: the runtime-spec body both engines share.
common_spec() {
	jq -n --arg id "$1" --arg rootp "$2" --arg cgp "$3" --arg host "$4" --argjson sys "$SYSCALLS_JSON" --argjson caps "$CAPS" '{
	  ociVersion: "1.0.2-dev",
	  process: {terminal: false, user: {uid: 10001, gid: 10001, additionalGids: [10001]},
	    args: ["/usr/local/bin/api", "--listen", ":8080", "--config", "/etc/api/config.yaml"],
	    env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ("HOSTNAME=" + $host), "API_ENV=production",
	          "GOMAXPROCS=2", "TZ=UTC", "LANG=C.UTF-8", "SSL_CERT_DIR=/etc/ssl/certs", "DB_HOST=db", "DB_PORT=5432",
	          "CACHE_DIR=/var/cache/api", "OTEL_EXPORTER_OTLP_ENDPOINT=http://otel:4317", "HOME=/home/api"],
	    cwd: "/srv/api",
	    capabilities: {bounding: $caps, effective: $caps, permitted: $caps},
	    apparmorProfile: "docker-default", oomScoreAdj: 0},
	  root: {path: $rootp},
	  hostname: $host,
	  mounts: ([
	    {destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]},
	    {destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]},
	    {destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
	    {destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]},
	    {destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["ro", "nosuid", "noexec", "nodev"]},
	    {destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]},
	    {destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]}
	  ] + [range(0; 20) | {destination: ("/srv/data/vol\(.)"), type: "bind", source: ("/var/lib/docker/volumes/vol\(.)/_data"), options: ["rbind", "rprivate"]}]),
	  linux: {
	    resources: {devices: [{allow: false, access: "rwm"},
	      {allow: true, type: "c", major: 1, minor: 5, access: "rwm"}, {allow: true, type: "c", major: 1, minor: 3, access: "rwm"},
	      {allow: true, type: "c", major: 1, minor: 9, access: "rwm"}, {allow: true, type: "c", major: 1, minor: 8, access: "rwm"},
	      {allow: true, type: "c", major: 5, minor: 0, access: "rwm"}, {allow: true, type: "c", major: 5, minor: 1, access: "rwm"},
	      {allow: false, type: "c", major: 10, minor: 229, access: "rwm"}, {allow: true, type: "c", major: 136, access: "rwm"},
	      {allow: true, type: "c", major: 5, minor: 2, access: "rwm"}],
	      memory: {limit: 2147483648, swap: 4294967296}, cpu: {shares: 1024, quota: 200000, period: 100000}, pids: {limit: 4096},
	      blockIO: {weight: 500}},
	    cgroupsPath: $cgp,
	    sysctl: {"net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647"},
	    namespaces: [{type: "mount"}, {type: "network", path: "/var/run/docker/netns/1a2b3c4d"}, {type: "uts"}, {type: "pid"}, {type: "ipc"}, {type: "cgroup"}],
	    seccomp: {defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 1,
	      architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
	      syscalls: ([{names: $sys, action: "SCMP_ACT_ALLOW"}]
	        + [{names: ["personality"], action: "SCMP_ACT_ALLOW", args: [{index: 0, value: 0, op: "SCMP_CMP_EQ"}]},
	           {names: ["personality"], action: "SCMP_ACT_ALLOW", args: [{index: 0, value: 8, op: "SCMP_CMP_EQ"}]},
	           {names: ["personality"], action: "SCMP_ACT_ALLOW", args: [{index: 0, value: 131072, op: "SCMP_CMP_EQ"}]},
	           {names: ["personality"], action: "SCMP_ACT_ALLOW", args: [{index: 0, value: 131080, op: "SCMP_CMP_EQ"}]},
	           {names: ["personality"], action: "SCMP_ACT_ALLOW", args: [{index: 0, value: 4294967295, op: "SCMP_CMP_EQ"}]},
	           {names: ["arch_prctl"], action: "SCMP_ACT_ALLOW"}, {names: ["modify_ldt"], action: "SCMP_ACT_ALLOW"},
	           {names: ["clone"], action: "SCMP_ACT_ALLOW", args: [{index: 0, value: 2114060288, op: "SCMP_CMP_MASKED_EQ"}]},
	           {names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38},
	           {names: ["bpf", "perf_event_open", "ptrace", "mount", "umount2", "unshare", "setns"], action: "SCMP_ACT_ERRNO", errnoRet: 1}])},
	    maskedPaths: ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
	      "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"],
	    readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]}
	}'
}

# Docker 20.10: systemd cgroup driver, libnetwork-setkey, "annotations": null,
# the container's hostname/hosts/resolv.conf bind mounts (how the hook finds
# config.v2.json).
mkdir -p "$DIR/bundles/docker/rootfs"
common_spec "$DOCKER_ID" "/var/lib/docker/overlay2/1f0c3a/merged" "system.slice:docker:$DOCKER_ID" "${DOCKER_ID:0:12}" | jq --arg id "$DOCKER_ID" '
  .mounts += [
    {destination: "/etc/resolv.conf", type: "bind", source: ("/var/lib/docker/containers/" + $id + "/resolv.conf"), options: ["rbind", "rprivate"]},
    {destination: "/etc/hostname", type: "bind", source: ("/var/lib/docker/containers/" + $id + "/hostname"), options: ["rbind", "rprivate"]},
    {destination: "/etc/hosts", type: "bind", source: ("/var/lib/docker/containers/" + $id + "/hosts"), options: ["rbind", "rprivate"]}]
  | .hooks = {prestart: [{path: "/proc/1234/exe", args: ["libnetwork-setkey", "-exec-root=/var/run/docker", $id, "4a5b6c7d8e9f"]}]}
  | .annotations = null' >"$DIR/bundles/docker/config.json"

# Podman 4: annotations, its own mounts, containers-storage root.
mkdir -p "$DIR/bundles/podman/rootfs"
common_spec "$PODMAN_ID" "/var/lib/containers/storage/overlay/$LAYER/merged" "machine.slice:libpod:$PODMAN_ID" "db" | jq --arg id "$PODMAN_ID" '
  .process.args = ["docker-entrypoint.sh", "postgres"]
  | .mounts += [
    {destination: "/etc/hostname", type: "bind", source: ("/run/containers/storage/overlay-containers/" + $id + "/userdata/hostname"), options: ["bind", "rprivate"]},
    {destination: "/etc/hosts", type: "bind", source: ("/run/containers/storage/overlay-containers/" + $id + "/userdata/hosts"), options: ["bind", "rprivate"]},
    {destination: "/run/.containerenv", type: "bind", source: ("/run/containers/storage/overlay-containers/" + $id + "/userdata/.containerenv"), options: ["bind", "rprivate"]}]
  | .annotations = {"io.container.manager": "libpod", "io.kubernetes.cri-o.Created": "2026-11-24T06:00:00.000000000Z",
      "io.kubernetes.cri-o.TTY": "false", "io.podman.annotations.autoremove": "FALSE", "io.podman.annotations.init": "FALSE",
      "io.podman.annotations.privileged": "FALSE", "io.podman.annotations.publish-all": "FALSE",
      "org.opencontainers.image.stopSignal": "15"}' >"$DIR/bundles/podman/config.json"

# BuildKit build step: bundle under buildkit/executor/, no image.
BUILD_BUNDLE="$R/var/lib/docker/buildkit/executor/$BUILD_ID"
mkdir -p "$BUILD_BUNDLE/rootfs"
common_spec "$BUILD_ID" "$BUILD_BUNDLE/rootfs" "/docker/buildkit/$BUILD_ID" "buildkitsandbox" | jq '
  .process.args = ["/bin/sh", "-c", "go build -trimpath -o /out/api ./cmd/api"] | .annotations = {}' >"$BUILD_BUNDLE/config.json"

# ---- the running neighbours -------------------------------------------------------
for i in $(seq 1 "$BG"); do
	id="$(hexid "bg-$i")"
	cg="/system.slice/docker-$id.scope"
	mkcg "$cg"
	mkproc $((40000 + i)) "$cg"
	docker_meta "$id" "registry.example.com/shop/worker-$i:2.0"
	mkdir -p "$DIR/bundles/bg-$i"
	jq --arg id "$id" '.linux.cgroupsPath = ("system.slice:docker:" + $id)
	  | (.mounts[] | select(.destination == "/etc/hostname")).source = ("/var/lib/docker/containers/" + $id + "/hostname")' \
		"$DIR/bundles/docker/config.json" >"$DIR/bundles/bg-$i/config.json"
	jq -n --arg id "$id" --arg b "$DIR/bundles/bg-$i" --argjson pid $((40000 + i)) \
		'{ociVersion: "1.0.2-dev", id: $id, status: "creating", pid: $pid, bundle: $b}' >"$DIR/state/bg-$i.json"
done

# ---- the 64 that start at once (concurrency bench) ------------------------------------
mkdir -p "$DIR/conc"
for i in $(seq 0 $((CONC - 1))); do
	id="$(hexid "conc-$i")"
	cg="/system.slice/docker-$id.scope"
	mkcg "$cg"
	mkproc $((50000 + i)) "$cg"
	docker_meta "$id" "registry.example.com/shop/api:1.42.$i"
	mkdir -p "$DIR/bundles/conc-$i"
	jq --arg id "$id" '.linux.cgroupsPath = ("system.slice:docker:" + $id)
	  | (.mounts[] | select(.destination == "/etc/hostname")).source = ("/var/lib/docker/containers/" + $id + "/hostname")' \
		"$DIR/bundles/docker/config.json" >"$DIR/bundles/conc-$i/config.json"
	jq -n --arg id "$id" --arg b "$DIR/bundles/conc-$i" --argjson pid $((50000 + i)) \
		'{ociVersion: "1.0.2-dev", id: $id, status: "creating", pid: $pid, bundle: $b}' >"$DIR/conc/start-$i.json"
	jq -n --arg id "$id" --arg b "$DIR/bundles/conc-$i" \
		'{ociVersion: "1.0.2-dev", id: $id, status: "stopped", bundle: $b}' >"$DIR/conc/stop-$i.json"
done

# ---- the many running containers of the scaling table ---------------------------------
mkdir -p "$DIR/scale" "$DIR/bundles/scale"
jq '.linux.cgroupsPath = "system.slice:docker:scale"' "$DIR/bundles/docker/config.json" >"$DIR/bundles/scale/config.json"
for i in $(seq 1 "$SCALE_MAX"); do
	cg="/system.slice/docker-scale$i.scope"
	mkdir -p "$CG$cg"
	printf '0\n' >"$CG$cg/memory.min"
	printf '0\n' >"$CG$cg/memory.low"
	mkproc $((60000 + i)) "$cg"
	printf '{"ociVersion":"1.0.2-dev","id":"scale%s","status":"creating","pid":%s,"bundle":"%s"}\n' "$i" $((60000 + i)) "$DIR/bundles/scale" \
		>"$DIR/scale/$i.json"
done

# ---- state JSON -------------------------------------------------------------------
jq -n --arg id "$DOCKER_ID" --arg b "$DIR/bundles/docker" --argjson pid "$DOCKER_PID" \
	'{ociVersion: "1.0.2-dev", id: $id, status: "creating", pid: $pid, bundle: $b}' >"$DIR/state/docker-start.json"
jq -n --arg id "$DOCKER_ID" --arg b "$DIR/bundles/docker" \
	'{ociVersion: "1.0.2-dev", id: $id, status: "stopped", bundle: $b}' >"$DIR/state/docker-stop.json"
jq -n --arg id "$PODMAN_ID" --arg b "$DIR/bundles/podman" --argjson pid "$PODMAN_PID" --slurpfile c "$DIR/bundles/podman/config.json" \
	'{ociVersion: "1.0.2-dev", id: $id, status: "created", pid: $pid, bundle: $b, annotations: $c[0].annotations}' >"$DIR/state/podman-start.json"
jq -n --arg id "$BUILD_ID" --arg b "$BUILD_BUNDLE" --argjson pid "$BUILD_PID" \
	'{ociVersion: "1.0.2-dev", id: $id, status: "creating", pid: $pid, bundle: $b}' >"$DIR/state/build-start.json"
jq -n --arg id "$BUILD_ID" --arg b "$BUILD_BUNDLE" \
	'{ociVersion: "1.0.2-dev", id: $id, status: "stopped", bundle: $b}' >"$DIR/state/build-stop.json"

# ---- policies ---------------------------------------------------------------------
# Policy K of a set: two match the Docker container (an image glob with
# protection, a cgroup glob adding annotations overrides); the rest are other
# teams' images, commands, annotations and builder policies that do not.
# One jq run writes all 1000 filler bodies (one per line, in one of five
# shapes); the sets copy from it.
jq -nc '
  range(1; 1001) as $k | ($k | tostring) as $s |
  if $k % 5 == 0 then {description: "team \($s) services", match: {images: ["registry.example.com/team-\($s)/*:*", "ghcr.io/example/team-\($s)-*:*"]},
      memory: {min: "256M", low: "1G"}, overrides: {annotations: true, max_min: "1G", max_low: "4G"}}
  elif $k % 5 == 1 then {description: "databases \($s)", match: {images: ["*/postgres-\($s):*", "*/mysql-\($s):*"], annotations: {"io.kubernetes.cri.container-type": "container"}},
      memory: {min: "1G", low: "4G"}, on_error: "ignore"}
  elif $k % 5 == 2 then {description: "builders \($s)", match: {images: ["golang-\($s):*", "*/ci/builder-\($s):*"], build: true},
      build: {swappiness: 10, reclaim: {when: "auto", available_below: "15%", order: 4, drop_caches: 1, compact: true, timeout_ms: 2000}}}
  elif $k % 5 == 3 then {description: "batch \($s)", match: {commands: ["/opt/batch-\($s)/bin/*"], cgroups: ["/batch-\($s).slice/*"]},
      memory: {low: "512M"}}
  else {description: "jenkins agents \($s)", match: {images: ["jenkins/inbound-agent-\($s):*"], cgroups: ["/system.slice/jenkins-\($s)-*.scope"]},
      memory: {min: "2G", low: "3G"}, build: {builder: true}}
  end' >"$DIR/policies/fillers.jsonl"
mapfile -t FILLERS <"$DIR/policies/fillers.jsonl"
for n in 1 10 100 1000; do
	d="$DIR/policies/p$n"
	mkdir -p "$d"
	for k in $(seq 1 "$n"); do
		f="$d/$(printf '%04d' "$k")-policy-$k.json"
		if [[ $k -eq 1 ]]; then
			jq -n '{description: "shop API: keep its working set", match: {images: ["registry.example.com/shop/*:*"]},
			  memory: {min: "256M", low: "1G"}, on_error: "ignore"}' >"$f"
		elif [[ $k -eq $(((n + 1) / 2)) ]]; then
			jq -n '{description: "every Docker container may ask for up to 1G by annotation", match: {cgroups: ["/system.slice/docker-*.scope"]},
			  overrides: {annotations: true, max_min: "1G", max_low: "2G"}}' >"$f"
		else
			printf '%s\n' "${FILLERS[k - 1]}" >"$f"
		fi
		chmod 0644 "$f"
	done
done
mkdir -p "$DIR/policies/build"
jq -n '{description: "CI builds: free memory before a build when the host is short", match: {build: true},
  build: {reclaim: {when: "auto", available_below: "15%", order: 4, drop_caches: 1, compact: true, timeout_ms: 2000}}}' \
	>"$DIR/policies/build/10-builds.json"
cp "$DIR/policies/p10/"*.json "$DIR/policies/build/"
chmod 0644 "$DIR/policies/build/"*.json

cat >"$DIR/env" <<EOF
FIX=$DIR
SYSROOT=$R
DOCKER_ID=$DOCKER_ID
PODMAN_ID=$PODMAN_ID
BUILD_ID=$BUILD_ID
BG=$BG
CONC=$CONC
SCALE_MAX=$SCALE_MAX
EOF
echo "fixture: $DIR (docker config.json $(stat -c %s "$DIR/bundles/docker/config.json") bytes, $(jq '.mounts|length' "$DIR/bundles/docker/config.json") mounts; podman $(stat -c %s "$DIR/bundles/podman/config.json") bytes; config.v2.json $(stat -c %s "$DROOT/containers/$DOCKER_ID/config.v2.json") bytes)"
