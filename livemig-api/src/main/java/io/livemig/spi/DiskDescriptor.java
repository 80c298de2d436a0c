package io.livemig.spi;

import java.util.Objects;

/**
 * What a destination needs to know about one disk of a VM to receive it: its id, its size and
 * the block size its change tracking works in. It travels in the migration handshake inside the
 * {@link VmDescriptor}.
 *
 * @param id             a stable identifier, unique within the VM, matched between source and
 *                       target (for example {@code "vda"})
 * @param sizeBytes      the disk's size in bytes, a positive multiple of {@code blockSizeBytes}
 * @param blockSizeBytes the tracking and transfer unit in bytes: a power of two from 512 to
 *                       1 MiB (4 KiB, as in dsync, unless the provider says otherwise)
 */
public record DiskDescriptor(String id, long sizeBytes, int blockSizeBytes) {

    /** The largest block size a disk may use: 1 MiB. */
    public static final int MAX_BLOCK_SIZE_BYTES = 1 << 20;
    /** The most blocks one disk may have: 2^37, as many as a {@link PageSet} spans. */
    public static final long MAX_BLOCKS = 1L << 37;

    /**
     * Checks the components.
     *
     * @throws IllegalArgumentException for a blank id, a bad block size or a size that is not whole blocks
     */
    public DiskDescriptor {
        Objects.requireNonNull(id, "id");
        if (id.isBlank() || id.length() > 255) {
            throw new IllegalArgumentException("a disk id must be 1 to 255 characters, not blank: '" + id + "'");
        }
        if (blockSizeBytes < 512 || blockSizeBytes > MAX_BLOCK_SIZE_BYTES || Integer.bitCount(blockSizeBytes) != 1) {
            throw new IllegalArgumentException("disk " + id + ": the block size must be a power of two from 512 to "
                    + MAX_BLOCK_SIZE_BYTES + " bytes, was " + blockSizeBytes);
        }
        if (sizeBytes <= 0 || sizeBytes % blockSizeBytes != 0 || sizeBytes / blockSizeBytes > MAX_BLOCKS) {
            throw new IllegalArgumentException("disk " + id + ": the size must be a positive multiple of the "
                    + blockSizeBytes + "-byte block, at most " + MAX_BLOCKS + " blocks, was " + sizeBytes + " bytes");
        }
    }

    /** {@return the number of blocks, {@code sizeBytes / blockSizeBytes}} */
    public long blockCount() {
        return sizeBytes / blockSizeBytes;
    }
}
