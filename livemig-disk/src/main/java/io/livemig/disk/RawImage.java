package io.livemig.disk;

import io.livemig.disk.internal.BootId;
import io.livemig.disk.internal.ChangeLog;
import io.livemig.disk.internal.DemandSupport;
import io.livemig.disk.internal.DsyncTracker;
import io.livemig.disk.internal.SidecarHeader;
import io.livemig.spi.BlockDemand;
import io.livemig.spi.BlockTracker;
import io.livemig.spi.Disk;
import io.livemig.spi.DiskDescriptor;
import io.livemig.spi.DiskSink;
import io.livemig.spi.DiskSource;
import io.livemig.spi.VmOperationException;
import io.livemig.spi.WriteMirror;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.BufferOverflowException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A raw disk image file as a VM's block backend: the VMM serves the guest's requests with
 * {@link #read}, {@link #write} and {@link #flush}; a migration reads it as a {@link DiskSource}
 * on the source and writes it as a {@link DiskSink} on the destination. Writes are tracked the
 * way dsync does it (Knauth and Fetzer, LISA'13): one bit per block.
 *
 * <h2>Two sets of written blocks</h2>
 * <ul>
 *   <li>The <b>live set</b>, in memory, for {@link BlockTracker#start()}, {@link BlockTracker#collect()},
 *       {@link BlockTracker#redirty} and {@link BlockTracker#stop()}: the blocks written since the last
 *       collect, while a migration runs.</li>
 *   <li>The <b>change log</b>, persistent, in the sidecar file {@code <image>.dsync} next to the
 *       image: a header (magic {@code LMDSYNC1}, format version, block size, block count, the
 *       generation the log is paired with, a clean flag, the host's boot id when opened, a CRC32C)
 *       and a bitmap mapped into memory, so that a bit set survives the process being killed.
 *       Every write sets the bits of the blocks it touches; only {@link BlockTracker#confirm}
 *       clears them, once the replica holds the blocks durably.</li>
 * </ul>
 *
 * <h2>Guest writes</h2>
 * {@link #write} takes the image's write lock, sets the change log bits of every block it touches
 * (whole or in part), writes the data with a positional write, then sets the live bits if live
 * tracking runs. A crash between the two leaves a bit set for a block that may not have changed,
 * never a changed block without its bit. A collect therefore never reports a block whose new data
 * is not yet in the file, and {@link #readBlocks} (under the read lock) never returns a block half
 * old, half new. In post-copy ({@link #demand()}) a guest request first waits for the missing
 * blocks it reads or writes in part; a write covering a missing block whole makes it present.
 *
 * <h2>When a log is not trusted</h2>
 * A bit set in the mapping is in the page cache at once, on disk only when the kernel writes it
 * back or the log is forced ({@link #flush}, {@link #close}, {@code pair}). {@link #open} keeps an
 * existing log only if its header is intact (CRC32C), describes the image's geometry, and it was
 * closed cleanly or opened under the current boot id (a killed process loses no bit; a power loss
 * or reboot may). Otherwise it is discarded with a WARN and the log starts with no generation:
 * {@code changedSince} reports nothing and {@link #replicaGeneration()} none, so the next sync
 * compares every block. A log that might have lost bits is never trusted.
 *
 * <h2>Generations and replicas</h2>
 * <ul>
 *   <li>{@code pair(g)} (source side) sets every bit and the generation {@code g}, durably; the
 *       engine then confirms blocks as the replica acknowledges them. {@code changedSince(g)} is a
 *       copy of the log if its generation is {@code g}, else empty.</li>
 *   <li>{@link #beginReplicaOf(String) beginReplicaOf(g)} (destination side) clears the bitmap and
 *       records {@code g}, durably; {@link #writeBlocks} (the sync's writes) set no bit, neither in
 *       the log nor in the live set.</li>
 *   <li>Hence pairing is symmetric: after a sync A to B under generation N, both logs carry N and
 *       A's bits are cleared as B confirms. The VM then running on B sets bits on B, and a sync
 *       back from B to A sends only those. A log is paired with one replica at a time: pairing
 *       with another replica ({@code pair} with a new generation) makes the first one stale.</li>
 *   <li>A replica written since it was synced (its own log has bits set) no longer equals any
 *       generation's state: {@link #replicaGeneration()} then reports none.</li>
 * </ul>
 *
 * <p><b>Sparse.</b> A new image is created with {@code ftruncate} ({@link RandomAccessFile#setLength}):
 * no block is allocated, and a 4 GiB image opens at once.
 *
 * <p><b>Threading.</b> Thread-safe. Guest reads and {@link #readBlocks} share a read lock; guest
 * writes, {@link #writeBlocks} and the tracker's methods take the write lock. {@link #flush} takes
 * no lock.
 *
 * <p><b>Lifetime.</b> Owns the image's file, the sidecar file and an exclusive lock on the sidecar
 * (a second process cannot open the same image). {@link #close} forces both files, marks the log
 * cleanly closed and is idempotent; any method but {@link #close} and {@link #path} then throws
 * {@link IllegalStateException}.
 */
public final class RawImage implements Disk, AutoCloseable {

    /** The block size of {@link #open(Path, String, long)}: 4 KiB, as dsync uses. */
    public static final int DEFAULT_BLOCK_SIZE_BYTES = 4096;
    /** The sidecar file's name suffix: {@code disk.img} keeps its change log in {@code disk.img.dsync}. */
    public static final String SIDECAR_SUFFIX = ".dsync";

    private static final Logger LOG = LoggerFactory.getLogger(RawImage.class);

    private final Path path;
    private final DiskDescriptor descriptor;
    private final boolean created;
    private final FileChannel image;
    private final ChangeLog log;
    private final DsyncTracker tracker;
    /** Read: guest reads, readBlocks, generation queries. Write: guest writes, writeBlocks, log changes, close. */
    private final ReentrantReadWriteLock lock;
    /** Set under the write lock; read without it by flush to fail early. */
    private volatile boolean closed;
    /** Whether anything was written since the open. */
    private volatile boolean written;
    /** Where writes are mirrored in the write-blocking copy mode. */
    private final WriteMirror.Slot mirror;
    /** Post-copy: the blocks still missing, which guest requests wait for. */
    private final DemandSupport demand;

    private RawImage(Path path, DiskDescriptor descriptor, boolean created, FileChannel image, ChangeLog log,
                     ReentrantReadWriteLock lock) {
        this.path = path;
        this.descriptor = descriptor;
        this.created = created;
        this.image = image;
        this.log = log;
        this.lock = lock;
        this.tracker = new DsyncTracker(lock, log, "disk " + descriptor.id() + " (" + path + ")");
        this.mirror = new WriteMirror.Slot("image " + path);
        this.demand = new DemandSupport(descriptor, lock.writeLock(), this::writeBlocks, "image " + path);
    }

    /**
     * Opens an existing image, or creates a sparse one, with 4 KiB blocks: as
     * {@link #open(Path, String, long, int)}.
     *
     * @param image the image file
     * @param diskId the disk's id, as the VM names it
     * @param sizeBytes the disk's size in bytes, whole 4 KiB blocks
     * @return the open image, owned by the caller
     * @throws IOException as {@link #open(Path, String, long, int)}
     */
    public static RawImage open(Path image, String diskId, long sizeBytes) throws IOException {
        return open(image, diskId, sizeBytes, DEFAULT_BLOCK_SIZE_BYTES);
    }

    /**
     * Opens an existing image, or creates a sparse one of {@code sizeBytes}, and opens (or
     * creates) its change log {@code <image>.dsync} beside it. An existing change log is kept only
     * if it can be trusted (see the class comment); a new image always starts a new log.
     *
     * @param image          the image file
     * @param diskId         the disk's id, as in {@link DiskDescriptor#id()}
     * @param sizeBytes      the size to create the image with, a positive multiple of the block
     *                       size; or 0 to open an existing image at its size. If the image exists
     *                       and this is positive, it must equal the image's size.
     * @param blockSizeBytes the tracking and transfer block size: a power of two from 512 bytes to 1 MiB
     * @return the open image, owned by the caller
     * @throws IllegalArgumentException if the id, block size or size is invalid, an existing image's
     *                                  size differs from a positive {@code sizeBytes} or is not whole blocks
     * @throws NoSuchFileException      if the image does not exist and {@code sizeBytes} is 0
     * @throws IOException              if a file cannot be created, opened, locked or written, or
     *                                  another process has the image open
     */
    public static RawImage open(Path image, String diskId, long sizeBytes, int blockSizeBytes) throws IOException {
        return open(image, diskId, sizeBytes, blockSizeBytes, BootId::current);
    }

    /** As {@link #open(Path, String, long, int)}, with the boot id taken from {@code bootId} (a test seam). */
    static RawImage open(Path image, String diskId, long sizeBytes, int blockSizeBytes, Supplier<String> bootId)
            throws IOException {
        Objects.requireNonNull(image, "image");
        Objects.requireNonNull(diskId, "diskId");
        if (sizeBytes < 0) {
            throw new IllegalArgumentException("disk " + diskId + ": the size must be 0 (open an existing image) or"
                    + " positive, was " + sizeBytes);
        }
        boolean exists = Files.exists(image);
        long actualSize;
        if (exists) {
            actualSize = Files.size(image);
            if (sizeBytes > 0 && sizeBytes != actualSize) {
                throw new IllegalArgumentException("disk " + diskId + ": " + image + " exists with " + actualSize
                        + " bytes, not the " + sizeBytes + " asked for");
            }
        } else if (sizeBytes == 0) {
            throw new NoSuchFileException(image.toString(), null, "no such image, and no size given to create it");
        } else {
            actualSize = sizeBytes;
        }
        DiskDescriptor descriptor = new DiskDescriptor(diskId, actualSize, blockSizeBytes);
        long bitmapBytes = SidecarHeader.bitmapBytes(descriptor.blockCount());
        if (bitmapBytes > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("disk " + diskId + ": " + descriptor.blockCount() + " blocks need a "
                    + bitmapBytes + "-byte change log bitmap, over 2 GiB: use a larger block size");
        }
        if (!exists) {
            Files.createFile(image);
            try (RandomAccessFile file = new RandomAccessFile(image.toFile(), "rw")) {
                file.setLength(actualSize);
            } catch (IOException | RuntimeException e) {
                deleteQuietly(image, e);
                throw e;
            }
        }
        FileChannel channel = null;
        try {
            channel = FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE);
            Path sidecar = image.resolveSibling(image.getFileName() + SIDECAR_SUFFIX);
            ChangeLog log = ChangeLog.open(sidecar, blockSizeBytes, descriptor.blockCount(), !exists,
                    Objects.requireNonNull(bootId.get(), "boot id"));
            RawImage opened = new RawImage(image, descriptor, !exists, channel, log, new ReentrantReadWriteLock());
            LOG.debug("Opened {} image {} ({} blocks of {} bytes), change log generation {}",
                    exists ? "existing" : "new", image, descriptor.blockCount(), blockSizeBytes,
                    log.generation().orElse("none"));
            return opened;
        } catch (IOException | RuntimeException e) {
            if (channel != null) {
                try {
                    channel.close();
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            if (!exists) {
                deleteQuietly(image, e);
            }
            throw e;
        }
    }

    private static void deleteQuietly(Path file, Exception failure) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException suppressed) {
            failure.addSuppressed(suppressed);
        }
    }

    /** {@return the image file, as given to {@link #open}} */
    public Path path() {
        return path;
    }

    /** {@return true if {@link #open} created the image file, false if it existed} */
    public boolean wasCreated() {
        return created;
    }

    /**
     * {@return true while every block reads zero for certain: the image was created by this
     * {@link #open} and nothing was written to it since (a migration then neither digests it
     * nor sends it zero blocks)}
     */
    @Override
    public boolean startsEmpty() {
        return created && !written;
    }

    /** {@return the disk's id, size and block size} */
    @Override
    public DiskDescriptor descriptor() {
        return descriptor;
    }

    /**
     * Reads a guest request: {@code destination.remaining()} bytes from {@code offsetBytes}.
     * Guest requests are sector-aligned (multiples of 512 bytes) but any range on the disk is
     * accepted. The position of {@code destination} advances to its limit. In post-copy it first
     * waits for the missing blocks it touches.
     *
     * @param offsetBytes the byte offset on the disk
     * @param destination where the bytes go
     * @throws IndexOutOfBoundsException if the range is not all on the disk
     * @throws IllegalStateException     if the image is closed
     * @throws VmOperationException      if the file cannot be read
     */
    public void read(long offsetBytes, ByteBuffer destination) {
        checkByteRange(offsetBytes, destination.remaining());
        demand.beforeRead(offsetBytes, destination.remaining());
        lock.readLock().lock();
        try {
            checkOpen();
            readFully(offsetBytes, destination);
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * Writes a guest request: {@code source.remaining()} bytes at {@code offsetBytes}, tracked: the
     * change log bits of every block touched, even in part, are set before the data is written,
     * the live bits (if tracking runs) after. The position of {@code source} advances to its limit.
     * In post-copy it first waits for a missing block it covers only in part.
     *
     * @param offsetBytes the byte offset on the disk
     * @param source      the bytes to write
     * @throws IndexOutOfBoundsException if the range is not all on the disk
     * @throws IllegalStateException     if the image is closed
     * @throws VmOperationException      if the file cannot be written; the blocks stay marked written
     */
    public void write(long offsetBytes, ByteBuffer source) {
        int length = source.remaining();
        checkByteRange(offsetBytes, length);
        if (length == 0) {
            return;
        }
        long firstBlock = offsetBytes / descriptor.blockSizeBytes();
        long lastBlock = (offsetBytes + length - 1) / descriptor.blockSizeBytes();
        demand.beforeWrite(offsetBytes, length);
        WriteMirror.Listener mirrored;
        long ticket = 0;
        lock.writeLock().lock();
        try {
            checkOpen();
            written = true;
            tracker.beforeWrite(firstBlock, lastBlock);
            try {
                writeFully(offsetBytes, source);
            } catch (RuntimeException e) {
                // Part of it may have reached the file.
                tracker.afterWrite(firstBlock, lastBlock);
                throw e;
            }
            demand.afterWrite(offsetBytes, length);
            mirrored = mirror.listener();
            if (mirrored == null) {
                tracker.afterWrite(firstBlock, lastBlock);
            } else {
                // The touched blocks, whole, as they are now: the mirror sends them in this order.
                int blocks = (int) (lastBlock - firstBlock + 1);
                ByteBuffer whole = ByteBuffer.allocate(blocks * descriptor.blockSizeBytes());
                readFully(firstBlock * descriptor.blockSizeBytes(), whole);
                ticket = mirrored.written(firstBlock, blocks, whole.flip());
            }
        } finally {
            lock.writeLock().unlock();
        }
        if (mirrored != null) {
            // Write-blocking: the guest's write completes once the destination has it on its way.
            WriteMirror.Slot.awaitSent(mirrored, ticket);
        }
    }

    /**
     * Mirroring of this image's writes, for the write-blocking copy mode: while it runs, each
     * {@link #write} hands the blocks it touched to the listener (inside the write lock, in write
     * order) instead of the live set, and returns once the listener let it go. The change log
     * records the writes as always.
     */
    @Override
    public Optional<WriteMirror> writeMirror() {
        return Optional.of(mirror);
    }

    /**
     * Post-copy on a target: once armed, guest requests wait for missing blocks (see {@link #read},
     * {@link #write}); an install writes a block still missing as {@link #writeBlocks} does.
     */
    @Override
    public Optional<BlockDemand> demand() {
        return Optional.of(demand);
    }

    /**
     * Makes everything written so far durable: the change log first (so no block is on disk
     * without its bit), then the image's data ({@code fdatasync}). It serves both the guest's
     * FLUSH and {@link DiskSink#flush()}. Takes no lock: writes that run concurrently may or may
     * not be included.
     *
     * @throws IllegalStateException if the image is closed
     * @throws VmOperationException  if a file cannot be forced
     */
    @Override
    public void flush() {
        checkOpen();
        try {
            log.force();
        } catch (IOException | RuntimeException e) {
            throw failure("force the change log " + log.path(), e);
        }
        try {
            image.force(false);
        } catch (IOException e) {
            throw failure("force the image data", e);
        }
    }

    /**
     * Reads whole blocks, as {@link DiskSource#readBlocks}: under the read lock, so no block is
     * half written.
     *
     * @throws IllegalArgumentException  if {@code blockCount} is below 1
     * @throws IndexOutOfBoundsException if the blocks are not all on the disk
     * @throws BufferOverflowException   if {@code destination} has too little room
     * @throws IllegalStateException     if the image is closed
     * @throws VmOperationException      if the file cannot be read
     */
    @Override
    public void readBlocks(long firstBlock, int blockCount, ByteBuffer destination) {
        long bytes = checkBlockRange(firstBlock, blockCount);
        if (destination.remaining() < bytes) {
            throw new BufferOverflowException();
        }
        ByteBuffer target = destination.slice(destination.position(), (int) bytes);
        lock.readLock().lock();
        try {
            checkOpen();
            readFully(firstBlock * descriptor.blockSizeBytes(), target);
        } finally {
            lock.readLock().unlock();
        }
        destination.position(destination.position() + (int) bytes);
    }

    /**
     * Writes whole blocks from a sync, as {@link DiskSink#writeBlocks}: they set no bit, neither in
     * the change log nor in the live set (they make this image equal to the source, not differ).
     *
     * @throws IllegalArgumentException  if {@code blockCount} is below 1, or {@code source} does not
     *                                   hold exactly {@code blockCount} blocks
     * @throws IndexOutOfBoundsException if the blocks are not all on the disk
     * @throws IllegalStateException     if the image is closed
     * @throws VmOperationException      if the file cannot be written
     */
    @Override
    public void writeBlocks(long firstBlock, int blockCount, ByteBuffer source) {
        long bytes = checkBlockRange(firstBlock, blockCount);
        if (source.remaining() != bytes) {
            throw new IllegalArgumentException("disk " + descriptor.id() + ": " + blockCount + " blocks of "
                    + descriptor.blockSizeBytes() + " bytes are " + bytes + " bytes, the buffer holds "
                    + source.remaining());
        }
        lock.writeLock().lock();
        try {
            checkOpen();
            written = true;
            writeFully(firstBlock * descriptor.blockSizeBytes(), source);
        } finally {
            lock.writeLock().unlock();
        }
    }

    /**
     * The generation this image is a replica of: the change log's generation, provided the log has
     * no bit set. A bit set means the image was written since it was synced (a VM ran on it, or a
     * sync into it set bits it did not clear), so it may differ from that generation's blocks
     * anywhere the source does not know of; then it reports none and the engine compares every
     * block.
     *
     * @throws IllegalStateException if the image is closed
     */
    @Override
    public Optional<String> replicaGeneration() {
        lock.readLock().lock();
        try {
            checkOpen();
            Optional<String> generation = log.generation();
            if (generation.isPresent() && !log.isEmpty()) {
                LOG.debug("{} has blocks written since its sync of generation {}: no replica generation",
                        path, generation.get());
                return Optional.empty();
            }
            return generation;
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * Records, durably (the sidecar forced before this returns), that this image is now the
     * replica of {@code generation}: the generation is stored and the bitmap cleared. If the
     * generation is the one already stored, the bitmap is empty in every sync the engine runs by
     * the contract ({@link #replicaGeneration()} reported it), and is cleared all the same: the
     * sync makes this image equal to the source's, whatever was written here before.
     *
     * @throws IllegalArgumentException if the generation is not 1 to 64 printable ASCII characters
     * @throws IllegalStateException    if the image is closed
     * @throws VmOperationException     if the sidecar cannot be written
     */
    @Override
    public void beginReplicaOf(String generation) {
        SidecarHeader.checkGeneration(generation);
        lock.writeLock().lock();
        try {
            checkOpen();
            log.clearAll();
            if (!log.generation().equals(Optional.of(generation))) {
                log.setGeneration(Optional.of(generation));
            }
            log.force();
        } catch (IOException e) {
            throw failure("record generation '" + generation + "' in the change log " + log.path(), e);
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** {@return this image's tracker, always present} */
    @Override
    public Optional<BlockTracker> tracker() {
        return Optional.of(tracker);
    }

    /** Returns at once: every request completes before {@link #read} or {@link #write} returns. */
    @Override
    public void drain() {
        checkOpen();
    }

    /**
     * Forces the image's data and the change log, marks the log cleanly closed and closes both
     * files. Safe to call twice; waits for running requests.
     *
     * @throws VmOperationException if a file cannot be forced or closed; both are closed anyway,
     *                              and a log not marked clean is then not trusted after a reboot
     */
    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            demand.close();
            VmOperationException failure = null;
            try {
                // Data before the clean mark: a clean log vouches for the image it describes.
                image.force(false);
            } catch (IOException e) {
                failure = failure("force the image data", e);
            }
            try {
                if (failure == null) {
                    log.close();
                } else {
                    log.closeUnclean();
                }
            } catch (IOException e) {
                if (failure == null) {
                    failure = failure("close the change log " + log.path(), e);
                } else {
                    failure.addSuppressed(e);
                }
            }
            try {
                image.close();
            } catch (IOException e) {
                if (failure == null) {
                    failure = failure("close the image", e);
                } else {
                    failure.addSuppressed(e);
                }
            }
            if (failure != null) {
                throw failure;
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public String toString() {
        return "RawImage[" + descriptor.id() + ", " + path + ", " + descriptor.blockCount() + " x "
                + descriptor.blockSizeBytes() + " B]";
    }

    private void readFully(long offsetBytes, ByteBuffer destination) {
        long position = offsetBytes;
        try {
            while (destination.hasRemaining()) {
                int read = image.read(destination, position);
                if (read < 0) {
                    throw new VmOperationException("disk " + descriptor.id() + ": " + path + " ends at "
                            + image.size() + " bytes, reading " + position + " (was it truncated behind our back?)");
                }
                position += read;
            }
        } catch (IOException e) {
            throw failure("read at byte " + position, e);
        }
    }

    private void writeFully(long offsetBytes, ByteBuffer source) {
        long position = offsetBytes;
        try {
            while (source.hasRemaining()) {
                position += image.write(source, position);
            }
        } catch (IOException e) {
            throw failure("write at byte " + position, e);
        }
    }

    private void checkByteRange(long offsetBytes, int lengthBytes) {
        if (offsetBytes < 0 || offsetBytes > descriptor.sizeBytes() - lengthBytes) {
            throw new IndexOutOfBoundsException("disk " + descriptor.id() + ": bytes [" + offsetBytes + ", "
                    + (offsetBytes + lengthBytes) + ") are not all on the disk of " + descriptor.sizeBytes() + " bytes");
        }
    }

    /** {@return the range's size in bytes} */
    private long checkBlockRange(long firstBlock, int blockCount) {
        if (blockCount < 1) {
            throw new IllegalArgumentException("disk " + descriptor.id() + ": a block count must be at least 1, was "
                    + blockCount);
        }
        if (firstBlock < 0 || firstBlock > descriptor.blockCount() - blockCount) {
            throw new IndexOutOfBoundsException("disk " + descriptor.id() + ": blocks [" + firstBlock + ", "
                    + (firstBlock + blockCount) + ") are not all on the disk of " + descriptor.blockCount() + " blocks");
        }
        return (long) blockCount * descriptor.blockSizeBytes();
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("disk " + descriptor.id() + ": " + path + " is closed");
        }
    }

    private VmOperationException failure(String operation, Exception cause) {
        return new VmOperationException("disk " + descriptor.id() + ": cannot " + operation + " of " + path + ": "
                + cause.getMessage(), cause);
    }
}
