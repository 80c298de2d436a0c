package io.livemig.kit.internal;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;

/**
 * The internal state of the kit's stateful device, kept sparse: the state is a row of chunks of
 * equal size, and a chunk's bytes are a function of its index and a version, so only a version
 * per chunk is stored (8 bytes per chunk; 256 MiB of state in 64 KiB chunks costs 32 KiB).
 *
 * <p><b>Content.</b> Version {@value #ZERO} is a chunk of zeros (a target device that has received
 * nothing). Any other version {@code v >= 0} is synthesized, big-endian: word 0 {@link #MAGIC},
 * word 1 the chunk index, word 2 the version, the rest an xorshift sequence seeded by index and
 * version. Version 0 is the device's initial state; write number {@code k} gives its chunk
 * version {@code k}. Bytes that are neither (a stream carrying something no source device
 * synthesized) are kept as they are, "foreign". Since zero and synthesized bytes are always
 * recognised, equal contents have equal representations, so {@link #fingerprint()} compares
 * contents in O(chunks).
 *
 * <p>Not thread-safe: the device guards it.
 */
public final class DeviceChunks {

    /** The version of an all-zero chunk. */
    public static final long ZERO = -1;
    /** Word 0 of every synthesized chunk: "LM-CHUNK". */
    public static final long MAGIC = 0x4C4D2D4348554E4BL;
    /** The smallest chunk: the three header words and some body. */
    public static final int MIN_CHUNK_BYTES = 64;

    private final int chunkBytes;
    private final long[] versions;
    /** Chunks whose bytes are neither zero nor synthesized, by index. */
    private final Map<Integer, byte[]> foreign = new HashMap<>();

    /**
     * @param chunkCount the chunks, at least 1
     * @param chunkBytes each chunk's size, a multiple of 8, at least {@value #MIN_CHUNK_BYTES}
     * @param initial    the version every chunk starts with: 0 (initial content) or {@link #ZERO}
     */
    public DeviceChunks(int chunkCount, int chunkBytes, long initial) {
        if (chunkCount < 1 || chunkBytes < MIN_CHUNK_BYTES || chunkBytes % 8 != 0) {
            throw new IllegalArgumentException("bad chunk shape: " + chunkCount + " x " + chunkBytes);
        }
        this.chunkBytes = chunkBytes;
        this.versions = new long[chunkCount];
        Arrays.fill(versions, initial);
    }

    /** @return the number of chunks */
    public int chunkCount() {
        return versions.length;
    }

    /** @return each chunk's size in bytes */
    public int chunkBytes() {
        return chunkBytes;
    }

    /**
     * Gives a chunk a new synthesized version, as a write of the device does.
     *
     * @param chunk   the chunk index
     * @param version the new version, at least 1
     */
    public void write(int chunk, long version) {
        versions[chunk] = version;
        foreign.remove(chunk);
    }

    /**
     * Puts the chunk's bytes at {@code out}'s position, advancing it.
     *
     * @param chunk the chunk index
     * @param out   a buffer with {@link #chunkBytes()} remaining
     */
    public void copyTo(int chunk, ByteBuffer out) {
        byte[] bytes = foreign.get(chunk);
        if (bytes != null) {
            out.put(bytes);
            return;
        }
        long version = versions[chunk];
        if (version == ZERO) {
            out.put(new byte[chunkBytes]);
            return;
        }
        ByteBuffer b = out.slice(out.position(), chunkBytes).order(ByteOrder.BIG_ENDIAN);
        b.putLong(MAGIC).putLong(chunk).putLong(version);
        long x = seed(chunk, version);
        while (b.hasRemaining()) {
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            b.putLong(x);
        }
        out.position(out.position() + chunkBytes);
    }

    /**
     * Replaces a chunk's bytes with {@code chunkBytes} bytes from {@code in}'s position (not
     * advancing it), recognising zero and synthesized content.
     *
     * @param chunk the chunk index
     * @param in    the bytes
     */
    public void load(int chunk, ByteBuffer in) {
        ByteBuffer b = in.slice(in.position(), chunkBytes).order(ByteOrder.BIG_ENDIAN);
        foreign.remove(chunk);
        if (isZero(b)) {
            versions[chunk] = ZERO;
            return;
        }
        long version = b.getLong(16);
        if (b.getLong(0) == MAGIC && b.getLong(8) == chunk && version >= 0) {
            ByteBuffer expected = ByteBuffer.allocate(chunkBytes);
            versions[chunk] = version;
            copyTo(chunk, expected);
            if (expected.flip().equals(b.rewind())) {
                return;
            }
        }
        byte[] bytes = new byte[chunkBytes];
        b.get(0, bytes);
        foreign.put(chunk, bytes);
        versions[chunk] = Long.MIN_VALUE;
    }

    private static boolean isZero(ByteBuffer b) {
        for (int i = 0; i < b.capacity(); i += 8) {
            if (b.getLong(i) != 0) {
                return false;
            }
        }
        return true;
    }

    /** @return a 64-bit fingerprint of the whole content: equal contents, equal fingerprints */
    public long fingerprint() {
        long h = 0x9E3779B97F4A7C15L;
        for (int c = 0; c < versions.length; c++) {
            byte[] bytes = foreign.get(c);
            long v = bytes != null ? Arrays.hashCode(bytes) * 0xC2B2AE3D27D4EB4FL + 0x5851F42D4C957F2DL : versions[c];
            h = mix(h ^ mix(c * 0xD6E8FEB86659FD93L + v));
        }
        return h;
    }

    /** @return the SHA-256 of the whole content, chunk after chunk, in hex */
    public String digest() {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
        ByteBuffer chunk = ByteBuffer.allocate(chunkBytes);
        for (int c = 0; c < versions.length; c++) {
            chunk.clear();
            copyTo(c, chunk);
            sha.update(chunk.flip());
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    private static long seed(int chunk, long version) {
        return mix(mix(chunk + 0x632BE59BD9B4E019L) ^ version) | 1;
    }

    /** SplitMix64's finalizer. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
