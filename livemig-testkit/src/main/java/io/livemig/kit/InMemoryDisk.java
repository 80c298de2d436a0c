package io.livemig.kit;

import io.livemig.kit.internal.BlockChangeLog;
import io.livemig.spi.BlockDemand;
import io.livemig.spi.BlockTracker;
import io.livemig.spi.Disk;
import io.livemig.spi.DiskDescriptor;
import io.livemig.spi.DiskSink;
import io.livemig.spi.DiskSource;
import io.livemig.spi.PageSet;
import io.livemig.spi.WriteMirror;

import java.nio.BufferOverflowException;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentSkipListMap;

/**
 * A disk that lives in this JVM: both a migration source ({@link DiskSource}) and a migration
 * target ({@link DiskSink}), with dsync's block-wise change tracking ({@link BlockTracker}), for
 * users' tests and simulations.
 *
 * <p><b>Sparse.</b> Only blocks holding a non-zero byte are stored, one array per block: a new
 * 4 GiB disk costs its three tracking bitmaps (32 KiB each per GiB of 4 KiB blocks) and nothing
 * else until it is written; a block never written, or written with zeros, reads as zeros.
 *
 * <p><b>Tracking.</b> {@link #tracker()} follows the SPI's contract: a live set (collect is
 * fetch-and-clear; redirty, start, stop) and a change log named by a generation (set on every
 * write; cleared only by {@link BlockTracker#confirm}, and not for a block written since it was
 * reported; {@link BlockTracker#changedSince} answers only for the paired generation;
 * {@link BlockTracker#pair} sets every bit). As a sink, {@link #beginReplicaOf} takes the
 * source's generation as this disk's own (so that the disk, once its VM runs on it, can be
 * synced back to the disk it came from) and clears the log when the generation changes; blocks
 * written by {@link #writeBlocks} are not recorded in either set. Nothing here is persistent: the
 * log lives as long as the object.
 *
 * <p><b>For tests.</b> {@link #write} writes one block as a guest would; {@link #digest()},
 * {@link #contentEquals} and {@link #differingBlocks} compare two disks byte for byte;
 * {@link #copy()} makes a stale replica (the content, generation and change log as of now) and
 * {@link #syncedReplica} one that a completed sync would have left; {@link #blocksWrittenBySync()}
 * counts the blocks a migration wrote into this disk, {@link #writeCount()} the writes made on it.
 *
 * <p><b>Post-copy.</b> {@link #demand()} is present: once armed, {@link #read} waits until the
 * block is installed or written whole by {@link #write} (the kit's guests write whole blocks, so
 * they never wait); {@link #readBlocks}, the engine's read, never waits.
 *
 * <p><b>Ownership.</b> A disk attached to a kit VM belongs to that VM until the VM is closed:
 * attaching it to a second VM meanwhile is refused.
 *
 * <p><b>Threading.</b> Thread-safe. Writes store a new array per block, so a read sees each block
 * whole, as it was before or after a concurrent write; a block's bytes and its tracking bits are
 * updated under one lock, so a {@link #copy()} sees them as one.
 */
public final class InMemoryDisk implements Disk {

    private static final Runnable NOTHING_DUE = () -> { };

    private final DiskDescriptor descriptor;
    private final int blockSize;
    /** Where writes are mirrored in the write-blocking copy mode. */
    private final WriteMirror.Slot mirror;
    /** Post-copy's missing blocks, which {@link #read} waits for. */
    private final BlockDemand.Gate gate;
    private final Demand demand = new Demand();
    /** Non-zero blocks by number; the arrays are never modified once stored. */
    private final ConcurrentSkipListMap<Long, byte[]> blocks;
    /** Tracking bits; also the lock under which a block is stored with its bits. */
    private final BlockChangeLog changes;
    private final Tracker tracker = new Tracker();
    private final byte[] zeros;
    /** Guarded by {@link #changes}. */
    private long writeCount;
    /** Guarded by {@link #changes}. */
    private long blocksWrittenBySync;
    /** Whether any block was ever written, here or in the disk this one is a copy of. Guarded by {@link #changes}. */
    private boolean everWritten;
    /** Guarded by {@code this}. */
    private Object owner;
    /** Applies the guest writes due by now (a simulated VM's), before the disk is observed. */
    private volatile Runnable catchUp = NOTHING_DUE;

    /**
     * Creates an empty (all-zero) disk.
     *
     * @param id             the disk's id, for example {@code "vda"}
     * @param sizeBytes      its size, a positive multiple of the block size
     * @param blockSizeBytes its block size, a power of two from 512 to 1 MiB
     * @throws IllegalArgumentException as {@link DiskDescriptor} does
     */
    public InMemoryDisk(String id, long sizeBytes, int blockSizeBytes) {
        this(new DiskDescriptor(id, sizeBytes, blockSizeBytes));
    }

    /**
     * Creates an empty (all-zero) disk of that shape.
     *
     * @param descriptor the disk's id, size and block size
     */
    public InMemoryDisk(DiskDescriptor descriptor) {
        this(descriptor, new ConcurrentSkipListMap<>(), new BlockChangeLog(descriptor.blockCount()));
    }

    private InMemoryDisk(DiskDescriptor descriptor, ConcurrentSkipListMap<Long, byte[]> blocks,
                         BlockChangeLog changes) {
        this.descriptor = Objects.requireNonNull(descriptor, "descriptor");
        this.blockSize = descriptor.blockSizeBytes();
        this.blocks = blocks;
        this.changes = changes;
        this.mirror = new WriteMirror.Slot("disk " + descriptor.id());
        this.gate = new BlockDemand.Gate("disk " + descriptor.id(), descriptor.blockCount());
        this.zeros = new byte[blockSize];
    }

    // ---- DiskSource and DiskSink ----

    @Override
    public DiskDescriptor descriptor() {
        return descriptor;
    }

    /** {@inheritDoc} Each block is read whole, as one write left it. */
    @Override
    public void readBlocks(long firstBlock, int blockCount, ByteBuffer destination) {
        checkRun(firstBlock, blockCount);
        if (destination.remaining() < (long) blockCount * blockSize) {
            throw new BufferOverflowException();
        }
        catchUp.run();
        for (int i = 0; i < blockCount; i++) {
            byte[] block = blocks.get(firstBlock + i);
            destination.put(block != null ? block : zeros);
        }
    }

    /** {@return the change tracking, always present} */
    @Override
    public Optional<BlockTracker> tracker() {
        return Optional.of(tracker);
    }

    /** Writes complete before {@link #write} returns: nothing is ever in flight. */
    @Override
    public void drain() {
    }

    /** {@inheritDoc} The blocks are not recorded in the live set or the change log. */
    @Override
    public void writeBlocks(long firstBlock, int blockCount, ByteBuffer source) {
        checkRun(firstBlock, blockCount);
        if (source.remaining() != (long) blockCount * blockSize) {
            throw new IllegalArgumentException("disk " + descriptor.id() + ": " + blockCount + " blocks of "
                    + blockSize + " bytes expected, the buffer holds " + source.remaining() + " bytes");
        }
        synchronized (changes) {
            for (int i = 0; i < blockCount; i++) {
                byte[] block = new byte[blockSize];
                source.get(block);
                store(firstBlock + i, block);
            }
            blocksWrittenBySync += blockCount;
        }
    }

    /** {@return true while no block of this disk (or of the disk it was copied from) was ever written} */
    @Override
    public boolean startsEmpty() {
        synchronized (changes) {
            return !everWritten;
        }
    }

    /** Memory needs no flush: a written block is as durable as this disk will ever be. */
    @Override
    public void flush() {
    }

    /** {@return the generation this disk's change log is paired with: the same as {@link BlockTracker#generation()}} */
    @Override
    public Optional<String> replicaGeneration() {
        return changes.generation();
    }

    /**
     * {@inheritDoc} The generation becomes this disk's own; under a generation other than the one
     * it had, its change log is cleared.
     */
    @Override
    public void beginReplicaOf(String generation) {
        changes.beginReplicaOf(generation);
    }

    // ---- for tests ----

    /**
     * Writes one block as the guest would: it is recorded in the live set (if tracking runs) and
     * in the change log.
     *
     * @param block      the block number
     * @param blockBytes exactly {@link DiskDescriptor#blockSizeBytes()} bytes, copied
     * @throws IndexOutOfBoundsException if the block is not on the disk
     * @throws IllegalArgumentException  if {@code blockBytes} is not one block long
     */
    public void write(long block, byte[] blockBytes) {
        Objects.checkIndex(block, descriptor.blockCount());
        if (blockBytes.length != blockSize) {
            throw new IllegalArgumentException("disk " + descriptor.id() + ": a block is " + blockSize
                    + " bytes, got " + blockBytes.length);
        }
        catchUp.run();
        writeOwned(block, blockBytes.clone());
    }

    /**
     * A guest write of a block the caller built and hands over (no copy, no catching up).
     * For the kit's guests.
     */
    void writeOwned(long block, byte[] blockBytes) {
        WriteMirror.Listener mirrored;
        long ticket = 0;
        synchronized (changes) {
            store(block, blockBytes);
            gate.supersede(block, block);
            writeCount++;
            mirrored = mirror.listener();
            if (mirrored == null) {
                changes.recordWrite(block);
            } else {
                changes.recordMirroredWrite(block);
                ticket = mirrored.written(block, 1, ByteBuffer.wrap(blockBytes));
            }
        }
        if (mirrored != null) {
            // Write-blocking: the write completes once the mirror sent it.
            WriteMirror.Slot.awaitSent(mirrored, ticket);
        }
    }

    /** {@return post-copy's demand fetching, always present: see the class comment} */
    @Override
    public Optional<BlockDemand> demand() {
        return Optional.of(demand);
    }

    /**
     * Mirroring for the write-blocking copy mode: while it runs, each write is handed to the
     * listener (in write order) instead of the live set, and completes once the listener let it go.
     */
    @Override
    public Optional<WriteMirror> writeMirror() {
        return Optional.of(mirror);
    }


    /**
     * Reads one block as the guest would: in post-copy it waits (uninterruptibly) until the block
     * is present, see {@link BlockDemand.Gate#awaitPresent}.
     *
     * @param block a block number
     * @return a copy of the block's bytes
     * @throws IndexOutOfBoundsException if the block is not on the disk
     */
    public byte[] read(long block) {
        Objects.checkIndex(block, descriptor.blockCount());
        catchUp.run();
        gate.awaitPresent(block, block);
        byte[] stored = blocks.get(block);
        return stored != null ? stored.clone() : new byte[blockSize];
    }

    /** {@return the blocks that hold a non-zero byte (the only ones stored)} */
    public long allocatedBlockCount() {
        catchUp.run();
        return blocks.size();
    }

    /**
     * {@return the writes made on this disk by {@link #write} and by its VM's guest, since it was created or copied}
     */
    public long writeCount() {
        catchUp.run();
        synchronized (changes) {
            return writeCount;
        }
    }

    /**
     * {@return the blocks written into this disk by {@link #writeBlocks} (a migration), since it was created or copied}
     */
    public long blocksWrittenBySync() {
        synchronized (changes) {
            return blocksWrittenBySync;
        }
    }

    /** {@return a copy of the change log as it stands, whatever its generation (see {@link BlockTracker})} */
    public PageSet changeLog() {
        catchUp.run();
        return changes.changeLog();
    }

    /**
     * {@return the SHA-256 of the disk's size, block size and content, as 64 hex digits: equal for
     * two disks exactly when their bytes are (the id is left out)}
     */
    public String digest() {
        catchUp.run();
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
        ByteBuffer header = ByteBuffer.allocate(16).putLong(descriptor.sizeBytes()).putLong(blockSize);
        sha.update(header.array());
        ByteBuffer number = ByteBuffer.allocate(8);
        for (Map.Entry<Long, byte[]> e : blocks.entrySet()) {
            sha.update(number.clear().putLong(e.getKey()).array());
            sha.update(e.getValue());
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    /**
     * {@return whether both have the same size, block size and bytes (ids aside)}
     *
     * @param other another disk
     */
    public boolean contentEquals(InMemoryDisk other) {
        return sameShape(other) && differingBlocks(other).isEmpty();
    }

    /**
     * {@return a new set of the blocks whose bytes differ, span {@link DiskDescriptor#blockCount()}}
     *
     * @param other a disk of the same size and block size
     * @throws IllegalArgumentException if the disks differ in size or block size
     */
    public PageSet differingBlocks(InMemoryDisk other) {
        if (!sameShape(other)) {
            throw new IllegalArgumentException("disk " + descriptor + " and " + other.descriptor + " differ in shape");
        }
        catchUp.run();
        other.catchUp.run();
        PageSet differ = new PageSet(descriptor.blockCount());
        Iterator<Map.Entry<Long, byte[]>> mine = blocks.entrySet().iterator();
        Iterator<Map.Entry<Long, byte[]>> theirs = other.blocks.entrySet().iterator();
        Map.Entry<Long, byte[]> a = mine.hasNext() ? mine.next() : null;
        Map.Entry<Long, byte[]> b = theirs.hasNext() ? theirs.next() : null;
        while (a != null || b != null) {
            int order = a == null ? 1 : b == null ? -1 : Long.compare(a.getKey(), b.getKey());
            if (order < 0) {
                differ.add(a.getKey());
                a = mine.hasNext() ? mine.next() : null;
            } else if (order > 0) {
                differ.add(b.getKey());
                b = theirs.hasNext() ? theirs.next() : null;
            } else {
                if (!Arrays.equals(a.getValue(), b.getValue())) {
                    differ.add(a.getKey());
                }
                a = mine.hasNext() ? mine.next() : null;
                b = theirs.hasNext() ? theirs.next() : null;
            }
        }
        return differ;
    }

    /**
     * A stale replica to hand a migration target: a deep copy of the content as of now, with the
     * same id, generation and change log (its blocks not reported to anyone yet), not attached to
     * any VM, no live tracking, its counters at zero.
     *
     * @return the copy
     */
    public InMemoryDisk copy() {
        catchUp.run();
        synchronized (changes) {
            return copyLocked();
        }
    }

    /**
     * What a completed sync to a new replica would leave, in one step: this disk's change log is
     * paired with {@code generation} and found equal everywhere (the log empties), and the replica
     * is returned, a copy as of that instant with the same generation. A later migration into that
     * replica then needs only the blocks written since.
     *
     * @param generation the new generation, 1 to 64 printable ASCII characters
     * @return the replica
     * @throws IllegalArgumentException if the generation is malformed
     */
    public InMemoryDisk syncedReplica(String generation) {
        catchUp.run();
        synchronized (changes) {
            changes.markSynced(generation);
            return copyLocked();
        }
    }

    /** Caller holds {@link #changes}. */
    private InMemoryDisk copyLocked() {
        InMemoryDisk copy = new InMemoryDisk(descriptor, blocks.clone(), changes.copy());
        copy.everWritten = everWritten;
        return copy;
    }

    @Override
    public String toString() {
        return "InMemoryDisk[" + descriptor.id() + ", " + descriptor.sizeBytes() + " bytes, "
                + blocks.size() + " blocks allocated, generation " + changes.generation().orElse("none") + "]";
    }

    // ---- the kit's VMs ----

    /**
     * Attaches this disk to a VM.
     *
     * @param vm      the VM
     * @param dueFirst what the VM must do before the disk is observed (apply the writes due), or null
     * @throws IllegalStateException if another open VM has it
     */
    synchronized void attach(Object vm, Runnable dueFirst) {
        if (owner != null && owner != vm) {
            throw new IllegalStateException("disk " + descriptor.id() + " belongs to another VM; close that VM first");
        }
        owner = vm;
        catchUp = dueFirst != null ? dueFirst : NOTHING_DUE;
    }

    /** Detaches this disk from {@code vm} (closed), if it has it. */
    synchronized void detach(Object vm) {
        if (owner == vm) {
            owner = null;
            catchUp = NOTHING_DUE;
        }
    }

    // ---- internals ----

    /** Caller holds {@link #changes}. */
    private void store(long block, byte[] bytes) {
        everWritten = true;
        if (Arrays.equals(bytes, zeros)) {
            blocks.remove(block);
        } else {
            blocks.put(block, bytes);
        }
    }

    private boolean sameShape(InMemoryDisk other) {
        return other.descriptor.sizeBytes() == descriptor.sizeBytes()
                && other.descriptor.blockSizeBytes() == blockSize;
    }

    private void checkRun(long firstBlock, int blockCount) {
        if (blockCount < 1) {
            throw new IllegalArgumentException("blockCount must be at least 1, was " + blockCount);
        }
        Objects.checkFromIndexSize(firstBlock, blockCount, descriptor.blockCount());
    }

    /** Post-copy over {@link #gate}: an install stores a block still missing, under {@link #changes}. */
    private final class Demand implements BlockDemand {
        @Override
        public void arm(PageSet missing, Listener listener) {
            gate.arm(missing, listener);
        }

        /** {@inheritDoc} Counted in {@link #blocksWrittenBySync()}; the position of {@code content} does not move. */
        @Override
        public int install(long firstBlock, int blockCount, ByteBuffer content) {
            checkRun(firstBlock, blockCount);
            if (content.remaining() != (long) blockCount * blockSize) {
                throw new IllegalArgumentException("disk " + descriptor.id() + ": " + blockCount + " blocks of "
                        + blockSize + " bytes expected, the buffer holds " + content.remaining() + " bytes");
            }
            int installed = 0;
            synchronized (changes) {
                for (int i = 0; i < blockCount; i++) {
                    long block = firstBlock + i;
                    if (gate.isMissing(block)) {
                        byte[] bytes = new byte[blockSize];
                        content.get(content.position() + i * blockSize, bytes);
                        store(block, bytes);
                        gate.installed(block); // after the store: a woken read finds the bytes
                        installed++;
                    }
                }
                blocksWrittenBySync += installed;
            }
            return installed;
        }

        @Override
        public long missingBlocks() {
            return gate.missingBlocks();
        }

        @Override
        public void disarm() {
            gate.disarm();
        }
    }

    /** The SPI's view of {@link #changes}, catching up on the guest's due writes before it looks. */
    private final class Tracker implements BlockTracker {
        @Override
        public void start() {
            catchUp.run();
            changes.start();
        }

        @Override
        public PageSet collect() {
            catchUp.run();
            return changes.collect();
        }

        @Override
        public void redirty(PageSet blocks) {
            changes.redirty(blocks);
        }

        @Override
        public void stop() {
            catchUp.run();
            changes.stop();
        }

        @Override
        public Optional<String> generation() {
            return changes.generation();
        }

        @Override
        public Optional<PageSet> changedSince(String generation) {
            catchUp.run();
            return changes.changedSince(generation);
        }

        @Override
        public void pair(String generation) {
            catchUp.run();
            changes.pair(generation);
        }

        @Override
        public void confirm(PageSet blocks) {
            changes.confirm(blocks);
        }
    }
}
