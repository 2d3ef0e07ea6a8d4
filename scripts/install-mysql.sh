#!/usr/bin/env bash
# Fetches MySQL (mysql-server-core and mysql-client-core from Debian's unstable suite) with the libraries
# they need, down to glibc, and extracts them into .cache/mysql/<version>/ inside the project. Nothing is
# installed: the system's packages and apt configuration stay as they are (a private sources list, package
# lists, cache and an empty dpkg status, so that Debian 12's own packages satisfy none of the dependencies).
# The binaries run through the extracted loader, see src/sandbox/mysql.ts.
# Idempotent: when .cache/mysql/current answers `mysqld --version`, nothing is fetched (ZDM_MYSQL_REFRESH=1 fetches again).
set -euo pipefail
cd "$(dirname "$0")/.."
cache="$PWD/.cache/mysql"
packages=(mysql-server-core mysql-client-core)

# Runs a binary of an extracted tree through that tree's own loader and libraries.
run_in() {
  local root="$1" bin="$2"
  shift 2
  "$root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" \
    --library-path "$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu" "$root/$bin" "$@"
}

if [ -z "${ZDM_MYSQL_REFRESH:-}" ] && [ -x "$cache/current/zdm-bin/mysqld" ] && version=$("$cache/current/zdm-bin/mysqld" --version 2>/dev/null); then
  echo "MySQL already extracted in $(readlink -f "$cache/current"): $version"
  exit 0
fi

apt_dir="$cache/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/debs" "$apt_dir/empty"
: >"$apt_dir/status"
cat >"$apt_dir/sid.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
apt_opts=(
  -o "Dir::Etc::sourcelist=$apt_dir/sid.sources" -o Dir::Etc::sourceparts=-
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir" -o "Dir::Cache::archives=$apt_dir/archives"
  -o "Dir::State::status=$apt_dir/status" -o Dir::Etc::preferences=/dev/null -o "Dir::Etc::preferencesparts=$apt_dir/empty"
  -o APT::Architecture=amd64 -o APT::Architectures=amd64 -o APT::Get::AllowUnauthenticated=false -o APT::Sandbox::User=root
)
if [ ! -f /usr/share/keyrings/debian-archive-keyring.gpg ]; then
  echo "zdm: /usr/share/keyrings/debian-archive-keyring.gpg is missing: install debian-archive-keyring" >&2
  exit 1
fi
echo "reading Debian unstable's package lists (private apt state in $apt_dir)"
apt-get "${apt_opts[@]}" update -qq
version=$(apt-cache "${apt_opts[@]}" show --no-all-versions mysql-server-core | sed -n 's/^Version: //p' | head -n1)
[ -n "$version" ] || { echo "zdm: Debian unstable has no mysql-server-core" >&2; exit 1; }
root="$cache/$version"

# The package set: both packages and everything they depend on, recursively (alternatives included; virtual
# names, in angle brackets, are provided by a real package that the recursion lists too).
mapfile -t deps < <(apt-cache "${apt_opts[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
  --no-breaks --no-replaces --no-enhances "${packages[@]}" | grep -v '^ ' | grep -v '^<' | sort -u)
echo "MySQL $version: ${#deps[@]} packages (${packages[*]} and their dependencies)"
missing=()
(
  cd "$apt_dir/debs"
  rm -f ./*.deb
  apt-get "${apt_opts[@]}" download -qq "${deps[@]}" >/dev/null
)
for pkg in "${deps[@]}"; do
  compgen -G "$apt_dir/debs/${pkg}_*.deb" >/dev/null || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "zdm: could not download ${missing[*]} from Debian unstable" >&2
  exit 1
fi

rm -rf "$root.partial"
mkdir -p "$root.partial"
for deb in "$apt_dir"/debs/*.deb; do dpkg -x "$deb" "$root.partial"; done
for need in usr/sbin/mysqld usr/bin/mysql usr/bin/mysqldump usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 usr/lib/mysql/plugin/mysql_clone.so; do
  [ -e "$root.partial/$need" ] || { echo "zdm: $need is not in the extracted packages (${packages[*]} $version)" >&2; exit 1; }
done
if ! found=$(run_in "$root.partial" usr/sbin/mysqld --version 2>&1); then
  echo "zdm: the extracted mysqld does not run: $found" >&2
  ldd_out=$(run_in "$root.partial" usr/sbin/mysqld --list 2>&1 | grep 'not found' || true)
  [ -n "$ldd_out" ] && echo "zdm: missing libraries: $ldd_out" >&2
  exit 1
fi
# zdm-bin/<tool>: each binary through the loader, for the sandbox and for a logical seed's mysqldump.
mkdir -p "$root.partial/zdm-bin"
for bin in usr/sbin/mysqld usr/bin/mysql usr/bin/mysqladmin usr/bin/mysqldump usr/bin/mysqlbinlog; do
  cat >"$root.partial/zdm-bin/${bin##*/}" <<WRAPPER
#!/bin/sh
# MySQL's ${bin##*/} from Debian unstable, run with its own loader and libraries (scripts/install-mysql.sh).
root="\$(dirname "\$(readlink -f "\$0")")/.."
exec "\$root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --library-path "\$root/usr/lib/x86_64-linux-gnu:\$root/lib/x86_64-linux-gnu" "\$root/$bin" "\$@"
WRAPPER
  chmod +x "$root.partial/zdm-bin/${bin##*/}"
done
"$root.partial/zdm-bin/mysqldump" --version >/dev/null
rm -rf "$root"
mv "$root.partial" "$root"
ln -sfn "$version" "$cache/current"
rm -f "$apt_dir"/debs/*.deb "$apt_dir"/archives/*.deb
echo "MySQL extracted in $root ($(du -sh "$root" | cut -f1)): $(run_in "$root" usr/sbin/mysqld --version)"
