#!/usr/bin/env bash
# Checks the image builds without Docker: for Dockerfile.manager and
# Dockerfile.worker it assembles the build context as Docker would (the
# files .dockerignore lets through), copies into a scratch directory exactly
# what the builder stage's COPY lines name, runs the stage's `go build` line
# there and checks that the result is a static binary that starts. A
# directory missing from COPY, a file .dockerignore wrongly drops, or a cgo
# dependency fails here rather than in someone's `docker build`.
#
#   hack/verify-images.sh            # both images
#   hack/verify-images.sh worker     # one
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

images=("$@")
[[ ${#images[@]} -gt 0 ]] || images=(manager worker)

work="$(mktemp -d "${TMPDIR:-/tmp}/eventpipe-verify-images.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# context lists the files of the build context: everything git knows of,
# filtered by .dockerignore's rules. The file here is an allow-list ("*" then
# "!dir/") with exclusions for tests and fixtures; rules it does not use are
# refused rather than guessed at.
context() {
  local -a allow=() deny=()
  local rule
  while IFS= read -r rule; do
    rule="${rule%%#*}"
    rule="${rule%"${rule##*[![:space:]]}"}"
    case "$rule" in
      "" | "*") ;;
      '!'*) allow+=("${rule#!}") ;;
      '**/*_test.go' | '**/testdata/') deny+=("$rule") ;;
      *) echo "verify-images: .dockerignore rule '$rule' is not understood here; extend $0" >&2; exit 1 ;;
    esac
  done <.dockerignore
  git ls-files --cached --others --exclude-standard | while IFS= read -r f; do
    local ok=""
    for a in "${allow[@]}"; do
      if [[ "$f" == "$a" || ( "$a" == */ && "$f" == "$a"* ) ]]; then ok=1; fi
    done
    [[ -n "$ok" ]] || continue
    [[ "$f" == *_test.go ]] && continue
    [[ "$f" == */testdata/* || "$f" == testdata/* ]] && continue
    [[ -f "$f" ]] && echo "$f"
  done
}

context >"$work/context"
for image in "${images[@]}"; do
  dockerfile="Dockerfile.$image"
  [[ -f "$dockerfile" ]] || { echo "verify-images: no $dockerfile" >&2; exit 1; }
  src="$work/$image/src"
  mkdir -p "$src"
  # The builder stage's COPY lines (not COPY --from, which is the final
  # stage), one source at a time: COPY <src>... <dest>.
  while read -r from to; do
    from="${from%/}" to="${to%/}"
    grep -E "^${from}(/|$)" "$work/context" | while IFS= read -r f; do
      if [[ "$f" == "$from" ]]; then dest="$src/$to/$(basename "$f")"; else dest="$src/$to/${f#"$from"/}"; fi
      mkdir -p "$(dirname "$dest")"
      cp "$f" "$dest"
    done || true
  done < <(grep -E '^COPY [^-]' "$dockerfile" | awk '{ for (i = 2; i < NF; i++) print $i, $NF }')

  # The build line: the RUN that calls go build, with the BuildKit arguments
  # given the values of this machine.
  # Continuation lines are joined first; the --mount options before the
  # environment are BuildKit's caches and do not change the build.
  build="$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$dockerfile" | grep 'go build' |
    sed -E 's/^RUN( +--mount=[^ ]+)* *//')"
  build="${build//\$\{TARGETOS:-linux\}/linux}"
  build="${build//\$\{TARGETARCH\}/$(go env GOARCH)}"
  build="${build//\/out\//$work/$image/out/}"
  [[ "$build" == *"go build"* ]] || { echo "verify-images: no go build line in $dockerfile" >&2; exit 1; }
  echo "verify-images: $image: building from $(wc -l <"$work/context") context files as $dockerfile does"
  (cd "$src" && eval "$build") || {
    echo "verify-images: $dockerfile: the build fails on the files its COPY lines and .dockerignore let in" >&2
    exit 1
  }
  bin="$work/$image/out/$image"
  if readelf -l "$bin" | grep -q INTERP; then
    echo "verify-images: $dockerfile: $image is dynamically linked; the distroless static base cannot run it" >&2
    exit 1
  fi
  if ! "$bin" --help >/dev/null 2>&1; then
    echo "verify-images: $dockerfile: $image does not start (--help fails)" >&2
    exit 1
  fi
  echo "verify-images: $image: static binary, starts"
done
