# Sourced by ./mvnw: livemig builds with JDK 25 (the KVM and Xen providers use java.lang.foreign,
# and the JDK's jar tool must read every module's class files), while a machine's default java
# may be older. Keep a JAVA_HOME that is already 25 or newer; otherwise pick the newest JDK >= 25
# from the usual places, so that nobody has to set JAVA_HOME. No JDK 25: one line, exit 1.
livemig_jdk_major() { # $1 = JDK home; prints its feature version, or nothing
  [ -x "$1/bin/javac" ] && [ -f "$1/release" ] || return 0
  sed -n 's/^JAVA_VERSION="\{0,1\}\([0-9]*\).*/\1/p' "$1/release" | head -n 1
}
livemig_find_jdk() {
  set +f # mvnw runs with globbing off
  livemig_best="" livemig_best_major=0
  for livemig_home in ${JAVA_HOME:+"$JAVA_HOME"} /usr/lib/jvm/* /usr/java/* /opt/java/* /opt/jdk* \
      "$HOME"/.sdkman/candidates/java/* "$HOME"/.jdks/* /Library/Java/JavaVirtualMachines/*/Contents/Home; do
    [ -d "$livemig_home" ] || continue
    livemig_major=$(livemig_jdk_major "$livemig_home")
    [ -n "$livemig_major" ] || continue
    if [ "$livemig_major" -ge 25 ] && [ "$livemig_major" -gt "$livemig_best_major" ]; then
      livemig_best="$livemig_home" livemig_best_major="$livemig_major"
    fi
  done
  if [ -z "$livemig_best" ]; then
    echo "livemig needs JDK 25 or newer and found none (JAVA_HOME, /usr/lib/jvm, ~/.sdkman, ~/.jdks): install one, e.g. 'apt-get install temurin-25-jdk', or set JAVA_HOME to it." >&2
    exit 1
  fi
  set -f
  JAVA_HOME="$livemig_best"
  export JAVA_HOME
}
if [ -z "${JAVA_HOME-}" ] || [ "$(livemig_jdk_major "$JAVA_HOME")" -lt 25 ] 2>/dev/null \
    || [ -z "$(livemig_jdk_major "$JAVA_HOME")" ]; then
  livemig_find_jdk
fi
