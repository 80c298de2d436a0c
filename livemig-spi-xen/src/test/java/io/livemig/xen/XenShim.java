package io.livemig.xen;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The simulated Xen of the contract tests: builds {@code xenshim.c} and {@code xenshim_xenctrl.c}
 * (test resources) with gcc
 * into a shared library once per JVM, and drives its test-control functions. Where the Xen 4.17
 * headers are installed the shim is compiled against them, so that its exported functions are
 * checked against the real prototypes. Skips the calling test, with one line, where gcc is missing.
 */
final class XenShim {

    private static final List<String> SOURCES = List.of("xenshim.h", "xenshim.c", "xenshim_xenctrl.c");

    private static Path library;
    private static boolean checkedAgainstHeaders;
    private static MethodHandle createDomain;
    private static MethodHandle guestWrites;
    private static MethodHandle pauseCount;
    private static MethodHandle param;
    private static MethodHandle readFrames;
    private static MethodHandle fail;
    private static MethodHandle domainCount;
    private static MethodHandle reset;

    private XenShim() {
    }

    /** @return the built shim, exporting libxenctrl's, libxenforeignmemory's, libxenstore's and libxentoollog's functions */
    static synchronized Path library() throws IOException, InterruptedException {
        if (library == null) {
            Path dir = Files.createTempDirectory("livemig-xenshim");
            // Removed when the JVM exits (files first: deleteOnExit runs in reverse order).
            dir.toFile().deleteOnExit();
            for (String file : SOURCES) {
                try (InputStream in = XenShim.class.getResourceAsStream(file)) {
                    Files.copy(in, dir.resolve(file));
                }
                dir.resolve(file).toFile().deleteOnExit();
            }
            boolean headers = Files.exists(Path.of("/usr/include/xenctrl.h"));
            Path out = dir.resolve("libxenshim.so");
            out.toFile().deleteOnExit();
            String log = gcc(dir, out, headers);
            if (log == null) {
                Assumptions.abort("skipped: gcc is not installed, and the contract tests build the Xen shim with it");
            }
            if (!Files.exists(out)) {
                throw new IllegalStateException("gcc could not build the Xen shim:\n" + log);
            }
            SymbolLookup shim = SymbolLookup.libraryLookup(out, Arena.global());
            Linker linker = Linker.nativeLinker();
            createDomain = linker.downcallHandle(shim.findOrThrow("shim_create_domain"),
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG));
            guestWrites = linker.downcallHandle(shim.findOrThrow("shim_guest_writes"),
                    FunctionDescriptor.of(JAVA_LONG, JAVA_INT));
            pauseCount = linker.downcallHandle(shim.findOrThrow("shim_pause_count"), FunctionDescriptor.of(JAVA_INT, JAVA_INT));
            param = linker.downcallHandle(shim.findOrThrow("shim_param"), FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_INT));
            readFrames = linker.downcallHandle(shim.findOrThrow("shim_read_frames"),
                    FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG, ADDRESS));
            fail = linker.downcallHandle(shim.findOrThrow("shim_fail"),
                    FunctionDescriptor.ofVoid(ADDRESS, JAVA_INT, JAVA_INT));
            domainCount = linker.downcallHandle(shim.findOrThrow("shim_domain_count"), FunctionDescriptor.of(JAVA_INT));
            reset = linker.downcallHandle(shim.findOrThrow("shim_reset"), FunctionDescriptor.ofVoid());
            checkedAgainstHeaders = headers;
            library = out;
        }
        return library;
    }

    /** Builds the shim if no test did yet (skipping the caller where gcc is missing). */
    private static void built() {
        try {
            library();
        } catch (IOException | InterruptedException e) {
            throw new IllegalStateException("building the Xen shim failed", e);
        }
    }

    /** @return whether the shim was compiled against the installed Xen headers */
    static synchronized boolean checkedAgainstHeaders() {
        return checkedAgainstHeaders;
    }

    /** @return the libraries of the provider, all pointed at the shim */
    static XenLibraries libraries() throws IOException, InterruptedException {
        return XenLibraries.allFrom(library().toString());
    }

    private static String gcc(Path dir, Path out, boolean headers) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("gcc", "-O2", "-Wall", "-shared", "-fPIC", "-pthread"));
        if (headers) {
            command.add("-DLIVEMIG_XEN_HEADERS");
        }
        command.addAll(List.of("-o", out.toString(), "xenshim.c", "xenshim_xenctrl.c"));
        ProcessBuilder pb = new ProcessBuilder(command);
        Process p;
        try {
            p = pb.directory(dir.toFile()).redirectErrorStream(true).start();
        } catch (IOException e) {
            return null;
        }
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("gcc did not finish within 120 s");
        }
        return log;
    }

    /**
     * Creates a running HVM domain: {@code ramBytes} of RAM around the VGA hole (frames
     * 0xa0-0xbf), whose guest writes {@code writesPerMs} 8-byte values a millisecond into frames
     * {@code [wsFirst, wsFirst + wsFrames)}.
     *
     * @return its domain id
     */
    static int createDomain(String name, long ramBytes, int vcpus, long writesPerMs, long wsFirst, long wsFrames) {
        built();
        try (Arena arena = Arena.ofConfined()) {
            int id = (int) createDomain.invokeExact(arena.allocateFrom(name), ramBytes, vcpus, writesPerMs, wsFirst,
                    wsFrames);
            if (id < 0) {
                throw new IllegalStateException("the shim could not create a domain");
            }
            return id;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** @return how many writes the domain's guest made so far */
    static long guestWrites(int domid) {
        try {
            return (long) guestWrites.invokeExact(domid);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * Waits until the domain's guest made {@code atLeast} writes: it runs. Fails after 30 s, a
     * bound for a hung guest, not a timing expectation.
     */
    static void awaitWrites(int domid, long atLeast) throws InterruptedException {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
        while (guestWrites(domid) < atLeast) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the guest of domain " + domid + " made " + guestWrites(domid)
                        + " writes, not " + atLeast + ": it does not run");
            }
            Thread.sleep(2);
        }
    }

    /** @return the domain's pause count: 0 when it runs, -1 when it does not exist */
    static int pauseCount(int domid) {
        try {
            return (int) pauseCount.invokeExact(domid);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** @return an HVM parameter as the domain holds it */
    static long param(int domid, int index) {
        try {
            return (long) param.invokeExact(domid, index);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Copies frames {@code [first, first + count)} of a domain into {@code out}. */
    static void readFrames(int domid, long first, long count, MemorySegment out) {
        try {
            if ((int) readFrames.invokeExact(domid, first, count, out) < 0) {
                throw new IllegalStateException("frames [" + first + ", +" + count + ") of domain " + domid
                        + " are not all populated");
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Makes the library function {@code function} fail once with {@code errno}, after {@code after} more calls succeed. */
    static void fail(String function, int errno, int after) {
        built();
        try (Arena arena = Arena.ofConfined()) {
            fail.invokeExact(arena.allocateFrom(function), errno, after);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** @return how many domains exist */
    static int domainCount() {
        try {
            return (int) domainCount.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Destroys every domain and clears any pending failure. */
    static void reset() {
        if (reset == null) {
            return;
        }
        try {
            reset.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }
}
