package io.livemig.disk.internal;

import io.livemig.spi.PageSet;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The persistent dsync change log of one image: the sidecar file ({@code <image>.dsync}) holding
 * a {@link SidecarHeader} and a bitmap of one bit per block, the bitmap mapped into memory with
 * {@link FileChannel#map} so that a bit set survives the process being killed (the kernel writes
 * the page back). It does not survive a power loss unless forced; hence the rule applied at
 * {@link #open}: a log that was not closed cleanly is trusted only under the boot it was opened
 * in.
 *
 * <p><b>Threading.</b> Not thread-safe: every method but {@link #force()} runs under the image's
 * write lock (reads of the bitmap under its read lock at least). {@link #force()} may run
 * concurrently with bit changes; it then forces some state between them, which is all a guest
 * FLUSH asks.
 *
 * <p><b>Lifetime.</b> Owns the sidecar's channel and an exclusive lock on it (a second process
 * opening the image fails). The mapping cannot be unmapped explicitly before Java 22's
 * {@code Arena}-scoped mappings; after {@link #close} it is no longer used and the GC releases it.
 */
public final class ChangeLog implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ChangeLog.class);

    private final Path path;
    private final FileChannel channel;
    private final FileLock lock;
    private final MappedByteBuffer bitmap;
    private final int wordCount;
    private final long blockCount;
    private SidecarHeader header;
    private boolean closed;

    private ChangeLog(Path path, FileChannel channel, FileLock lock, MappedByteBuffer bitmap, SidecarHeader header) {
        this.path = path;
        this.channel = channel;
        this.lock = lock;
        this.bitmap = bitmap;
        this.header = header;
        this.blockCount = header.blockCount();
        this.wordCount = Math.toIntExact(header.bitmapBytes() / Long.BYTES);
    }

    /**
     * Opens the change log at {@code path}, or creates it. An existing log is kept, with its
     * generation and bits, only if its header is intact, describes the same geometry, and it was
     * closed cleanly or opened under the same boot id as now (a process killed under this boot
     * lost no bit: the page cache has them). Otherwise it is discarded with a WARN and starts
     * without a generation, so that no sync trusts bits that may have been lost. Before this
     * returns, the header on disk says "not clean, opened under {@code bootId}", so a power loss
     * from now on is detected.
     *
     * @param path           the sidecar file
     * @param blockSizeBytes the image's block size
     * @param blockCount     the image's block count; its bitmap must fit in one mapping (2 GiB)
     * @param discard        true to discard any existing log (the image has just been created)
     * @param bootId         the current boot id, empty if unknown (then only a cleanly closed log is kept)
     * @return the open log
     * @throws IOException if the file cannot be opened, locked, written or mapped, or another
     *                     process holds it
     */
    public static ChangeLog open(Path path, int blockSizeBytes, long blockCount, boolean discard, String bootId)
            throws IOException {
        long bitmapBytes = SidecarHeader.bitmapBytes(blockCount);
        if (bitmapBytes > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("a change log of " + blockCount + " blocks needs a " + bitmapBytes
                    + "-byte bitmap, more than one mapping holds (2 GiB): use a larger block size");
        }
        FileChannel channel = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
        try {
            FileLock lock = lockExclusively(channel, path);
            SidecarHeader fresh = new SidecarHeader(blockSizeBytes, blockCount, false, Optional.empty(), bootId);
            SidecarHeader kept = discard ? null : trusted(channel, path, fresh, bootId);
            if (kept == null) {
                channel.truncate(0);
            }
            SidecarHeader header = kept == null ? fresh : fresh.withGeneration(kept.generation());
            // Grows the file to the bitmap's end (sparse, zero) when it was just created or truncated.
            MappedByteBuffer bitmap = channel.map(FileChannel.MapMode.READ_WRITE, SidecarHeader.SIZE_BYTES, bitmapBytes);
            bitmap.order(ByteOrder.LITTLE_ENDIAN);
            ChangeLog log = new ChangeLog(path, channel, lock, bitmap, header);
            // "Not clean, under this boot" must be on disk before any bit changes.
            log.writeHeader();
            channel.force(true);
            return log;
        } catch (IOException | RuntimeException e) {
            try {
                channel.close();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    private static FileLock lockExclusively(FileChannel channel, Path path) throws IOException {
        FileLock lock;
        try {
            lock = channel.tryLock();
        } catch (OverlappingFileLockException e) {
            throw new IOException(path + " is already open in this process", e);
        }
        if (lock == null) {
            throw new IOException(path + " is locked by another process: the image is in use");
        }
        return lock;
    }

    /** @return the existing header if the log can be trusted, else null (logged at WARN unless there was none) */
    private static SidecarHeader trusted(FileChannel channel, Path path, SidecarHeader expected, String bootId)
            throws IOException {
        long size = channel.size();
        if (size == 0) {
            return null;
        }
        ByteBuffer bytes = ByteBuffer.allocate(SidecarHeader.SIZE_BYTES);
        while (bytes.hasRemaining() && channel.read(bytes, bytes.position()) > 0) {
            // reads until full or end of file
        }
        bytes.flip();
        SidecarHeader found;
        try {
            found = SidecarHeader.decode(bytes);
        } catch (SidecarHeader.InvalidHeaderException e) {
            LOG.warn("Change log {} discarded, its header is corrupt ({}): the image has no generation, the next sync"
                    + " compares every block", path, e.getMessage());
            return null;
        }
        String reason = null;
        if (found.blockSizeBytes() != expected.blockSizeBytes() || found.blockCount() != expected.blockCount()) {
            reason = "it describes " + found.blockCount() + " blocks of " + found.blockSizeBytes() + " bytes, the image "
                    + expected.blockCount() + " of " + expected.blockSizeBytes();
        } else if (size != SidecarHeader.SIZE_BYTES + found.bitmapBytes()) {
            reason = "it is " + size + " bytes, its geometry needs " + (SidecarHeader.SIZE_BYTES + found.bitmapBytes());
        } else if (!found.clean() && (bootId.isEmpty() || !bootId.equals(found.bootId()))) {
            reason = "it was not closed cleanly and the host has rebooted since (boot id '" + found.bootId()
                    + "', now '" + bootId + "'): bits may have been lost";
        }
        if (reason != null) {
            LOG.warn("Change log {} discarded: {}; the image has no generation, the next sync compares every block",
                    path, reason);
            return null;
        }
        return found;
    }

    /** @return the sidecar file */
    public Path path() {
        return path;
    }

    /** @return the generation the log is paired with, if any */
    public Optional<String> generation() {
        return header.generation();
    }

    /**
     * Sets the generation in the header (not forced: see {@link #force()}).
     *
     * @throws IOException if the header cannot be written
     */
    public void setGeneration(Optional<String> generation) throws IOException {
        checkOpen();
        header = header.withGeneration(generation);
        writeHeader();
    }

    /** Sets the bits of blocks {@code [firstBlock, lastBlock]}. */
    public void setRange(long firstBlock, long lastBlock) {
        checkOpen();
        long block = firstBlock;
        while (block <= lastBlock) {
            int word = (int) (block >>> 6);
            int bit = (int) (block & 63);
            int span = (int) Math.min(64 - bit, lastBlock - block + 1);
            long mask = span == 64 ? -1L : ((1L << span) - 1) << bit;
            int at = word * Long.BYTES;
            long old = bitmap.getLong(at);
            if ((old | mask) != old) {
                bitmap.putLong(at, old | mask);
            }
            block += span;
        }
    }

    /** Sets the bit of every block. */
    public void setAll() {
        checkOpen();
        for (int word = 0; word < wordCount; word++) {
            bitmap.putLong(word * Long.BYTES, validMask(word));
        }
    }

    /** Clears every bit. */
    public void clearAll() {
        checkOpen();
        for (int word = 0; word < wordCount; word++) {
            bitmap.putLong(word * Long.BYTES, 0L);
        }
    }

    /**
     * Clears the bits of {@code blocks}, except those also set in {@code keep}.
     *
     * @param blocks the blocks to clear, span {@link #blockCount()}
     * @param keep   bitmap words (same layout) of blocks to leave set, or null
     */
    public void clear(PageSet blocks, long[] keep) {
        checkOpen();
        for (int word = 0; word < wordCount; word++) {
            long clear = blocks.word(word);
            if (keep != null) {
                clear &= ~keep[word];
            }
            if (clear != 0) {
                int at = word * Long.BYTES;
                bitmap.putLong(at, bitmap.getLong(at) & ~clear);
            }
        }
    }

    /** @return a new set holding the blocks whose bit is set */
    public PageSet toPageSet() {
        PageSet set = new PageSet(blockCount);
        for (int word = 0; word < wordCount; word++) {
            long bits = bitmap.getLong(word * Long.BYTES);
            if (bits != 0) {
                set.orWord(word, bits);
            }
        }
        return set;
    }

    /** @return whether no block's bit is set */
    public boolean isEmpty() {
        for (int word = 0; word < wordCount; word++) {
            if ((bitmap.getLong(word * Long.BYTES) & validMask(word)) != 0) {
                return false;
            }
        }
        return true;
    }

    /** @return the number of blocks the log covers */
    public long blockCount() {
        return blockCount;
    }

    /**
     * Forces the bitmap, then the header, to disk.
     *
     * @throws IOException if the file cannot be forced
     */
    public void force() throws IOException {
        bitmap.force();
        channel.force(false);
    }

    /**
     * Forces the bitmap, marks the header clean and forces it, then releases the lock and closes
     * the file. Safe to call twice.
     *
     * @throws IOException if the log cannot be forced or written; the file is closed anyway, and
     *                     then the header still says "not clean"
     */
    @Override
    public void close() throws IOException {
        close(true);
    }

    /**
     * Closes the file without marking the log clean (after a failure of the image it describes):
     * after a reboot the log is then discarded. Safe to call twice, and after {@link #close()}.
     *
     * @throws IOException if the file cannot be closed
     */
    public void closeUnclean() throws IOException {
        close(false);
    }

    private void close(boolean markClean) throws IOException {
        if (closed) {
            return;
        }
        try {
            if (markClean) {
                bitmap.force();
                header = header.withClean(true);
                writeHeader();
                channel.force(true);
            }
        } finally {
            closed = true;
            try {
                lock.release();
            } finally {
                channel.close();
            }
        }
    }

    private void writeHeader() throws IOException {
        ByteBuffer bytes = header.encode();
        while (bytes.hasRemaining()) {
            channel.write(bytes, bytes.position());
        }
    }

    private long validMask(int word) {
        long remaining = blockCount - ((long) word << 6);
        return remaining >= 64 ? -1L : (1L << remaining) - 1;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("change log " + path + " is closed");
        }
    }
}
