package io.livemig.disk.internal;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Objects;
import java.util.Optional;
import java.util.zip.CRC32C;

/**
 * The header of a change log sidecar file ({@code <image>.dsync}), and its one encoding.
 *
 * <p>Layout, little-endian, {@link #SIZE_BYTES} bytes, the bitmap following at that offset:
 * <pre>
 * offset size  field
 *      0    8  magic            "LMDSYNC1" (ASCII)
 *      8    4  format version   {@link #FORMAT_VERSION}
 *     12    4  block size       bytes, a power of two from 512 to 1 MiB
 *     16    8  block count      blocks of the image; the bitmap holds ceil(count / 64) words
 *     24    1  clean            1 if the log was closed cleanly (every bit forced), 0 while open
 *     25    1  generation size  0 (no generation) or 1..64
 *     26    1  boot id size     0 (unknown) or 1..64
 *     27    1  reserved         0
 *     28   64  generation       printable ASCII, zero-padded
 *     92   64  boot id          ASCII (/proc/sys/kernel/random/boot_id at open), zero-padded
 *    156    4  CRC32C           of bytes [0, 156)
 *    160  352  reserved         0
 * </pre>
 * The bitmap is words of 64 bits, little-endian: bit {@code i} of word {@code w} is block
 * {@code 64 * w + i}, the layout of {@link io.livemig.spi.PageSet}; bits past the block count are 0.
 *
 * <p>The header fits in one 512-byte sector, so that a power loss while it is written leaves the
 * old or the new one; a torn header fails its CRC and the log is discarded.
 *
 * @param blockSizeBytes the block size of the image the bitmap covers
 * @param blockCount     the number of blocks, one bit each
 * @param clean          whether the log was closed cleanly, its bitmap forced to disk
 * @param generation     the generation the log is paired with, if any
 * @param bootId         the boot id of the host when the log was opened, empty if unknown
 */
public record SidecarHeader(int blockSizeBytes, long blockCount, boolean clean, Optional<String> generation,
                            String bootId) {

    /** The header's size in bytes, and the bitmap's offset in the file. */
    public static final int SIZE_BYTES = 512;
    /** The version of this layout. */
    public static final int FORMAT_VERSION = 1;
    /** The longest generation, in characters. */
    public static final int MAX_GENERATION_LENGTH = 64;
    /** The longest boot id kept, in characters. */
    public static final int MAX_BOOT_ID_LENGTH = 64;

    private static final byte[] MAGIC = "LMDSYNC1".getBytes(StandardCharsets.US_ASCII);
    private static final int GENERATION_OFFSET = 28;
    private static final int BOOT_ID_OFFSET = GENERATION_OFFSET + MAX_GENERATION_LENGTH;
    private static final int CRC_OFFSET = BOOT_ID_OFFSET + MAX_BOOT_ID_LENGTH;

    /** @throws IllegalArgumentException for a malformed generation or boot id */
    public SidecarHeader {
        Objects.requireNonNull(generation, "generation");
        Objects.requireNonNull(bootId, "bootId");
        generation.ifPresent(SidecarHeader::checkGeneration);
        if (bootId.length() > MAX_BOOT_ID_LENGTH || !isPrintableAscii(bootId)) {
            throw new IllegalArgumentException("a boot id must be at most " + MAX_BOOT_ID_LENGTH
                    + " printable ASCII characters: '" + bootId + "'");
        }
    }

    /**
     * Checks a generation: 1 to 64 printable ASCII characters (0x20 to 0x7E).
     *
     * @param generation the generation
     * @return {@code generation}
     * @throws IllegalArgumentException if it is malformed
     */
    public static String checkGeneration(String generation) {
        Objects.requireNonNull(generation, "generation");
        if (generation.isEmpty() || generation.length() > MAX_GENERATION_LENGTH || !isPrintableAscii(generation)) {
            throw new IllegalArgumentException("a generation must be 1 to " + MAX_GENERATION_LENGTH
                    + " printable ASCII characters, was '" + generation + "' (" + generation.length() + " chars)");
        }
        return generation;
    }

    private static boolean isPrintableAscii(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c > 0x7E) {
                return false;
            }
        }
        return true;
    }

    /** @return the bitmap's size in bytes: one 64-bit word per 64 blocks */
    public long bitmapBytes() {
        return bitmapBytes(blockCount);
    }

    /**
     * @param blockCount a number of blocks
     * @return the size in bytes of a bitmap for that many blocks
     */
    public static long bitmapBytes(long blockCount) {
        return ((blockCount + 63) >>> 6) * Long.BYTES;
    }

    /** @return this header with {@code clean} replaced */
    public SidecarHeader withClean(boolean newClean) {
        return new SidecarHeader(blockSizeBytes, blockCount, newClean, generation, bootId);
    }

    /** @return this header with {@code generation} replaced */
    public SidecarHeader withGeneration(Optional<String> newGeneration) {
        return new SidecarHeader(blockSizeBytes, blockCount, clean, newGeneration, bootId);
    }

    /** @return this header's {@link #SIZE_BYTES} bytes, CRC included, in a new buffer at position 0 */
    public ByteBuffer encode() {
        ByteBuffer out = ByteBuffer.allocate(SIZE_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        out.put(MAGIC);
        out.putInt(FORMAT_VERSION);
        out.putInt(blockSizeBytes);
        out.putLong(blockCount);
        out.put((byte) (clean ? 1 : 0));
        byte[] gen = generation.orElse("").getBytes(StandardCharsets.US_ASCII);
        byte[] boot = bootId.getBytes(StandardCharsets.US_ASCII);
        out.put((byte) gen.length);
        out.put((byte) boot.length);
        out.put((byte) 0);
        out.put(GENERATION_OFFSET, gen);
        out.put(BOOT_ID_OFFSET, boot);
        out.putInt(CRC_OFFSET, crc(out));
        return out.clear();
    }

    /**
     * Decodes a header, checking every field.
     *
     * @param in {@link #SIZE_BYTES} bytes from its position, which is left unchanged
     * @return the header
     * @throws InvalidHeaderException naming the first field that is wrong
     */
    public static SidecarHeader decode(ByteBuffer in) throws InvalidHeaderException {
        if (in.remaining() < SIZE_BYTES) {
            throw new InvalidHeaderException("the header is truncated: " + in.remaining() + " of " + SIZE_BYTES
                    + " bytes");
        }
        ByteBuffer b = in.slice(in.position(), SIZE_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        byte[] magic = new byte[MAGIC.length];
        b.get(0, magic);
        if (!Arrays.equals(magic, MAGIC)) {
            throw new InvalidHeaderException("bad magic (not a livemig change log)");
        }
        int storedCrc = b.getInt(CRC_OFFSET);
        int actualCrc = crc(b);
        if (storedCrc != actualCrc) {
            throw new InvalidHeaderException("CRC32C mismatch: stored " + Integer.toHexString(storedCrc)
                    + ", computed " + Integer.toHexString(actualCrc));
        }
        int version = b.getInt(8);
        if (version != FORMAT_VERSION) {
            throw new InvalidHeaderException("format version " + version + ", this build reads " + FORMAT_VERSION);
        }
        int blockSize = b.getInt(12);
        long blockCount = b.getLong(16);
        int cleanByte = b.get(24);
        int genLength = Byte.toUnsignedInt(b.get(25));
        int bootLength = Byte.toUnsignedInt(b.get(26));
        if (cleanByte != 0 && cleanByte != 1) {
            throw new InvalidHeaderException("clean flag " + cleanByte + ", must be 0 or 1");
        }
        if (genLength > MAX_GENERATION_LENGTH || bootLength > MAX_BOOT_ID_LENGTH) {
            throw new InvalidHeaderException("generation length " + genLength + " or boot id length " + bootLength
                    + " over " + MAX_GENERATION_LENGTH);
        }
        byte[] gen = new byte[genLength];
        b.get(GENERATION_OFFSET, gen);
        byte[] boot = new byte[bootLength];
        b.get(BOOT_ID_OFFSET, boot);
        try {
            return new SidecarHeader(blockSize, blockCount, cleanByte == 1,
                    genLength == 0 ? Optional.empty() : Optional.of(new String(gen, StandardCharsets.US_ASCII)),
                    new String(boot, StandardCharsets.US_ASCII));
        } catch (IllegalArgumentException e) {
            throw new InvalidHeaderException(e.getMessage());
        }
    }

    private static int crc(ByteBuffer header) {
        CRC32C crc = new CRC32C();
        crc.update(header.slice(0, CRC_OFFSET));
        return (int) crc.getValue();
    }

    /** A sidecar header that cannot be trusted: the message says which field is wrong. */
    public static final class InvalidHeaderException extends Exception {
        private static final long serialVersionUID = 1L;

        /** @param message which field is wrong, and how */
        public InvalidHeaderException(String message) {
            super(message);
        }
    }
}
