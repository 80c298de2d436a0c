package io.livemig.kvm;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Builds the guests that ship as source with this module (GNU as, in
 * {@code io/livemig/kvm/guest/}) with the host's binutils: {@code as}, {@code ld} and, for flat
 * images, {@code objcopy}. No guest binary is kept in the repository.
 *
 * <ul>
 *   <li>{@link #dirtier} — the Multiboot guest that dirties memory at a set pace and checks
 *       itself (see {@code dirtier.S} and {@link DirtierParams}); a flat image loaded through
 *       its Multiboot load addresses.</li>
 *   <li>{@link #hello} — a 32-bit Multiboot ELF that prints one line and halts.</li>
 * </ul>
 */
public final class GuestBuilder {

    private GuestBuilder() {
    }

    /** {@return why guests cannot be built here (binutils missing), or empty} */
    public static Optional<String> unavailableReason() {
        for (String tool : new String[] {"as", "ld", "objcopy"}) {
            if (!onPath(tool)) {
                return Optional.of("'" + tool + "' is not installed (apt-get install binutils)");
            }
        }
        return Optional.empty();
    }

    private static boolean onPath(String tool) {
        String path = System.getenv().getOrDefault("PATH", "/usr/bin:/bin");
        for (String dir : path.split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, tool))) {
                return true;
            }
        }
        return false;
    }

    /**
     * Builds the dirtier guest.
     *
     * @param dir a directory for the intermediate files and the result
     * @return the flat Multiboot image, {@code dir/dirtier.bin}
     * @throws IOException if a tool is missing or fails (its output is in the message)
     */
    public static Path dirtier(Path dir) throws IOException {
        Path src = extract(dir, "dirtier.S");
        Path script = extract(dir, "dirtier.ld");
        Path obj = dir.resolve("dirtier.o");
        Path elf = dir.resolve("dirtier64.elf");
        Path bin = dir.resolve("dirtier.bin");
        run(dir, "as", "--64", "-o", obj.toString(), src.toString());
        run(dir, "ld", "-m", "elf_x86_64", "--no-warn-rwx-segments", "-T", script.toString(), "-o", elf.toString(),
                obj.toString());
        run(dir, "objcopy", "-O", "binary", elf.toString(), bin.toString());
        return bin;
    }

    /**
     * Builds the dirtier guest in a temporary directory, which is removed afterwards.
     *
     * @return the flat Multiboot image's bytes
     * @throws IOException if a tool is missing or fails (its output is in the message)
     */
    public static byte[] dirtierImage() throws IOException {
        Path dir = Files.createTempDirectory("livemig-guest");
        try {
            return Files.readAllBytes(dirtier(dir));
        } finally {
            deleteTree(dir);
        }
    }

    /**
     * Builds the hello guest in a temporary directory, which is removed afterwards.
     *
     * @return the ELF32 Multiboot kernel's bytes
     * @throws IOException if a tool is missing or fails
     */
    public static byte[] helloImage() throws IOException {
        Path dir = Files.createTempDirectory("livemig-guest");
        try {
            return Files.readAllBytes(hello(dir));
        } finally {
            deleteTree(dir);
        }
    }

    /**
     * Assembles a guest of one's own, written as the hello guest is (32-bit GNU assembler source
     * with a Multiboot header, linked with hello's script at 1 MiB), in a temporary directory
     * removed afterwards.
     *
     * @param assemblySource the source text
     * @return the ELF32 Multiboot kernel's bytes
     * @throws IOException if a tool is missing, or the assembler or linker fails (its output is in
     *                     the message)
     */
    public static byte[] multibootImage(String assemblySource) throws IOException {
        Path dir = Files.createTempDirectory("livemig-guest");
        try {
            Path src = dir.resolve("guest.S");
            Files.writeString(src, assemblySource, StandardCharsets.UTF_8);
            return Files.readAllBytes(link(dir, src, "guest"));
        } finally {
            deleteTree(dir);
        }
    }

    /** Removes a build directory and what is in it (flat: the build makes no subdirectory); best effort. */
    private static void deleteTree(Path dir) {
        try (var files = Files.list(dir)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Files.deleteIfExists(f);
            }
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            // A temporary directory left behind is no reason to fail a build that succeeded.
        }
    }

    /**
     * Builds the hello guest.
     *
     * @param dir the directory the guest is built in, and its ELF written to
     * @return the ELF32 Multiboot kernel, {@code dir/hello.elf}
     * @throws IOException if the sources cannot be written or the assembler or linker fails
     */
    public static Path hello(Path dir) throws IOException {
        return link(dir, extract(dir, "hello.S"), "hello");
    }

    /** Assembles {@code src} and links it with hello's script into {@code dir/name.elf}. */
    private static Path link(Path dir, Path src, String name) throws IOException {
        Path script = extract(dir, "hello.ld");
        Path obj = dir.resolve(name + ".o");
        Path elf = dir.resolve(name + ".elf");
        run(dir, "as", "--32", "-o", obj.toString(), src.toString());
        run(dir, "ld", "-m", "elf_i386", "-T", script.toString(), "-o", elf.toString(), obj.toString());
        return elf;
    }

    private static Path extract(Path dir, String name) throws IOException {
        Files.createDirectories(dir);
        try (InputStream in = GuestBuilder.class.getResourceAsStream("guest/" + name)) {
            if (in == null) {
                throw new IOException("guest source " + name + " is missing from the livemig-spi-kvm jar");
            }
            Path out = dir.resolve(name);
            Files.write(out, in.readAllBytes());
            return out;
        }
    }

    private static void run(Path dir, String... command) throws IOException {
        if (!onPath(command[0])) {
            throw new IOException("cannot build the guest: " + unavailableReason().orElse(command[0] + " is missing"));
        }
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        byte[] output = p.getInputStream().readAllBytes();
        try {
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", command) + " did not finish within 60 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while building the guest", e);
        }
        if (p.exitValue() != 0) {
            List<String> cmd = new ArrayList<>(List.of(command));
            throw new IOException(String.join(" ", cmd) + " failed (exit " + p.exitValue() + "): "
                    + new String(output, StandardCharsets.UTF_8).strip());
        }
    }
}
