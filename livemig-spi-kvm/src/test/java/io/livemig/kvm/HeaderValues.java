package io.livemig.kvm;

import org.junit.jupiter.api.Assumptions;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * What the C compiler makes of integer expressions over this machine's headers: writes a C
 * program that prints each, compiles it with gcc and runs it. The ABI tests ({@link KvmAbiTest},
 * {@link UserfaultfdAbiTest}, {@link VfioAbiTest}) check their tables with it, all the same way.
 * Skips (a JUnit assumption) when a header or gcc is missing. Expressions over parts of a header
 * newer than the installed one can be guarded by a macro, and are then left out, not failed.
 */
final class HeaderValues {

    private HeaderValues() {
    }

    /**
     * @param dir         a scratch directory for the program
     * @param headers     the headers to include, as in {@code #include <...>}
     * @param expressions name -> C integer expression
     * @return name -> the expression's value, as an unsigned long, for every name
     */
    static Map<String, Long> evaluate(Path dir, List<String> headers, Map<String, String> expressions)
            throws Exception {
        Map<String, Long> values = evaluate(dir, headers, expressions, Map.of());
        assertEquals(expressions.keySet(), values.keySet(), "the program printed every expression once");
        return values;
    }

    /**
     * Like {@link #evaluate(Path, List, Map)}, but the expressions named in {@code guards} are
     * compiled only if their macro is defined ({@code #ifdef}): the parts of a header newer
     * than the installed one. Their names are missing from the result when it is older.
     *
     * @param guards name -> the macro that must be defined for the expression to be compiled
     * @return name -> value, for every unguarded name and every guarded one whose macro exists
     */
    static Map<String, Long> evaluate(Path dir, List<String> headers, Map<String, String> expressions,
                                      Map<String, String> guards) throws Exception {
        for (String h : headers) {
            Assumptions.assumeTrue(Files.exists(Path.of("/usr/include", h))
                            || Files.exists(Path.of("/usr/include/x86_64-linux-gnu", h)),
                    "skipped: <" + h + "> is missing (apt-get install linux-libc-dev libc6-dev)");
        }
        Assumptions.assumeTrue(run(dir, "sh", "-c", "command -v gcc") != null, "skipped: gcc is not installed");
        StringBuilder c = new StringBuilder("#include <stdio.h>\n#include <stddef.h>\n");
        for (String h : headers) {
            c.append("#include <").append(h).append(">\n");
        }
        c.append("int main(void) {\n");
        for (var e : expressions.entrySet()) {
            String guard = guards.get(e.getKey());
            if (guard != null) {
                c.append("#ifdef ").append(guard).append('\n');
            }
            c.append("  printf(\"%s %lu\\n\", \"").append(e.getKey()).append("\", (unsigned long) (")
                    .append(e.getValue()).append("));\n");
            if (guard != null) {
                c.append("#endif\n");
            }
        }
        c.append("  return 0;\n}\n");
        Path src = dir.resolve("abi.c");
        Files.writeString(src, c);
        Path exe = dir.resolve("abi");
        String compiled = run(dir, "gcc", "-o", exe.toString(), src.toString());
        assertEquals("", compiled, "gcc says");
        Map<String, Long> values = new TreeMap<>();
        for (String line : run(dir, exe.toString()).strip().split("\n")) {
            String[] p = line.split(" ");
            values.put(p[0], Long.parseUnsignedLong(p[1]));
        }
        for (String name : expressions.keySet()) {
            if (!guards.containsKey(name) && !values.containsKey(name)) {
                throw new AssertionError("the program did not print " + name);
            }
        }
        return values;
    }

    /**
     * @return "NAME: Java x, C y" for every name of {@code checked} whose public static field
     *         in {@code table} differs from the C value
     */
    static List<String> mismatches(Class<?> table, Set<String> checked, Map<String, Long> values) throws Exception {
        List<String> mismatches = new ArrayList<>();
        for (String name : checked) {
            long java = ((Number) table.getField(name).get(null)).longValue();
            if (values.get(name) != java) {
                mismatches.add(name + ": Java " + java + ", C " + values.get(name));
            }
        }
        return mismatches;
    }

    /** @return the public static constants of {@code table} that {@code checked} leaves out */
    static Set<String> unchecked(Class<?> table, Set<String> checked) {
        Set<String> unchecked = new TreeSet<>();
        for (Field f : table.getFields()) {
            if (Modifier.isStatic(f.getModifiers()) && !checked.contains(f.getName())) {
                unchecked.add(f.getName());
            }
        }
        return unchecked;
    }

    /** @return the command's output, or null if it failed to start or exited non-zero (gcc: its output) */
    private static String run(Path dir, String... command) throws Exception {
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            return command[0].equals("gcc") ? out : null;
        }
        return out;
    }
}
