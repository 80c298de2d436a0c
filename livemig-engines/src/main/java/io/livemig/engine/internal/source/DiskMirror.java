package io.livemig.engine.internal.source;

import io.livemig.engine.internal.EngineThreads;
import io.livemig.api.MigrationException;
import io.livemig.engine.internal.wire.DiskFrames;
import io.livemig.engine.internal.wire.FrameWriter;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.spi.DiskSource;
import io.livemig.spi.PageSet;
import io.livemig.spi.WriteMirror;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The write-blocking copy mode's sender: one thread that sends, in order, every write the disks'
 * {@link WriteMirror}s hand over and the blocks the copy still owed when mirroring began. Because
 * it is the only one sending disk blocks from then on, and a write is queued after every block
 * read before it took effect, the destination ends with each block's last content. A guest write
 * completes ({@link WriteMirror.Listener#awaitSent}) once its blocks were sent, so the guest's
 * disk writes go at the link's pace.
 *
 * <p>Thread-safe: the guest's writing threads call the listeners, the migration's thread the rest.
 */
final class DiskMirror implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(DiskMirror.class);

    /** Something to send, in queue order. */
    private sealed interface Entry {
        long ticket();
    }

    /** A mirrored write: the blocks as they were after it. */
    private record Written(int disk, long firstBlock, int blockCount, byte[] content, long ticket) implements Entry {
    }

    /** Blocks owed from before mirroring, read when their turn comes. */
    private record Owed(int disk, PageSet blocks, long ticket) implements Entry {
    }

    private final List<? extends DiskSource> disks;
    private final SourceLink link;
    private final FrameWriter writer;
    private final ByteBuffer scratch;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    /** Guarded by {@link #lock}. */
    private final ArrayDeque<Entry> queue = new ArrayDeque<>();
    private long lastTicket;
    private long sentTicket;
    private long queuedBytes;
    private boolean closed;
    private Throwable failure;
    /** Per disk: blocks sent by this mirror; read by the migration thread once the queue is empty. */
    private final PageSet[] sent;
    private final long[] blocksSent;
    private final Thread thread;

    /**
     * @param disks           the VM's disks
     * @param link            the link (its sends are serialized with the migration thread's)
     * @param frameLimitBytes the agreed frame limit
     */
    DiskMirror(List<? extends DiskSource> disks, SourceLink link, int frameLimitBytes) {
        this.disks = disks;
        this.link = link;
        this.writer = new FrameWriter(frameLimitBytes);
        int maxBlock = disks.stream().mapToInt(d -> d.descriptor().blockSizeBytes()).max().orElse(4096);
        int room = frameLimitBytes - Wire.MIN_FRAME_BYTES - DiskFrames.BLOCKS_HEADER_BYTES;
        this.scratch = ByteBuffer.allocateDirect(Math.max(maxBlock, Math.min(1 << 20, room / maxBlock * maxBlock)));
        this.sent = new PageSet[disks.size()];
        this.blocksSent = new long[disks.size()];
        for (int i = 0; i < disks.size(); i++) {
            sent[i] = new PageSet(disks.get(i).descriptor().blockCount());
        }
        this.thread = EngineThreads.unstarted("livemig-disk-mirror", this::run);
        thread.start();
    }

    /** @return the listener disk {@code index}'s mirror hands its writes to */
    WriteMirror.Listener listener(int index) {
        return new WriteMirror.Listener() {
            @Override
            public long written(long firstBlock, int blockCount, ByteBuffer blocks) {
                byte[] content = new byte[blocks.remaining()];
                blocks.duplicate().get(content);
                return enqueue(new Written(index, firstBlock, blockCount, content, 0), content.length);
            }

            @Override
            public void awaitSent(long ticket) throws InterruptedException {
                lock.lock();
                try {
                    // A failed or closed mirror lets writes go: they are in the change log, and the
                    // migration that failed resends or resumes; the guest must never hang on it.
                    while (sentTicket < ticket && failure == null && !closed) {
                        changed.await();
                    }
                } finally {
                    lock.unlock();
                }
            }
        };
    }

    /** Queues {@code blocks} of disk {@code index}, owed from before mirroring, to be read and sent in turn. */
    void owe(int index, PageSet blocks) {
        if (!blocks.isEmpty()) {
            enqueue(new Owed(index, blocks, 0), blocks.cardinality() * disks.get(index).descriptor().blockSizeBytes());
        }
    }

    private long enqueue(Entry entry, long bytes) {
        lock.lock();
        try {
            long ticket = ++lastTicket;
            queue.addLast(switch (entry) {
                case Written w -> new Written(w.disk(), w.firstBlock(), w.blockCount(), w.content(), ticket);
                case Owed o -> new Owed(o.disk(), o.blocks(), ticket);
            });
            queuedBytes += bytes;
            changed.signalAll();
            return ticket;
        } finally {
            lock.unlock();
        }
    }

    /** @return bytes of blocks queued and not yet sent */
    long queuedBytes() {
        lock.lock();
        try {
            return queuedBytes;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Waits until everything queued so far was sent. The VM is paused: nothing is queued after.
     *
     * @throws MigrationException if sending failed, or the wait was interrupted
     */
    void awaitEmpty() throws MigrationException {
        lock.lock();
        try {
            long target = lastTicket;
            while (sentTicket < target && failure == null) {
                changed.await();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw link.interrupted();
        } finally {
            lock.unlock();
        }
        rethrow();
    }

    /**
     * Waits until the queue is empty, for at most {@code timeoutNanos} of real time.
     *
     * @throws MigrationException if sending failed, or the wait was interrupted
     */
    void awaitEmptyWithin(long timeoutNanos) throws MigrationException {
        lock.lock();
        try {
            long left = timeoutNanos;
            while (!queue.isEmpty() && failure == null && left > 0) {
                left = changed.awaitNanos(left);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw link.interrupted();
        } finally {
            lock.unlock();
        }
        rethrow();
    }

    /** @throws MigrationException if the sending thread failed */
    void rethrow() throws MigrationException {
        Throwable f;
        lock.lock();
        try {
            f = failure;
        } finally {
            lock.unlock();
        }
        if (f instanceof MigrationException me) {
            throw me;
        }
        if (f != null) {
            throw new IllegalStateException("the disk mirror failed: " + f, f);
        }
    }

    /** @return the blocks of disk {@code index} this mirror sent; valid once {@link #awaitEmpty} returned */
    PageSet sent(int index) {
        return sent[index];
    }

    /** @return blocks of disk {@code index} sent so far (with content or as zeros) */
    long blocksSent(int index) {
        lock.lock();
        try {
            return blocksSent[index];
        } finally {
            lock.unlock();
        }
    }

    private void run() {
        try {
            while (true) {
                Entry next;
                lock.lock();
                try {
                    while (queue.isEmpty() && !closed) {
                        changed.await();
                    }
                    if (closed) {
                        return;
                    }
                    next = queue.peekFirst();
                } finally {
                    lock.unlock();
                }
                long bytes = send(next);
                lock.lock();
                try {
                    queue.pollFirst();
                    queuedBytes -= bytes;
                    sentTicket = next.ticket();
                    changed.signalAll();
                } finally {
                    lock.unlock();
                }
            }
        } catch (Throwable t) {
            lock.lock();
            try {
                failure = t;
                changed.signalAll();
            } finally {
                lock.unlock();
            }
            if (!(t instanceof InterruptedException)) {
                LOG.debug("the disk mirror stopped: {}", t.toString());
            }
        }
    }

    /** Sends one entry; @return the queued bytes it accounted for */
    private long send(Entry entry) throws MigrationException {
        return switch (entry) {
            case Written w -> {
                int blockBytes = disks.get(w.disk()).descriptor().blockSizeBytes();
                int perFrame = scratch.capacity() / blockBytes;
                for (int i = 0; i < w.blockCount(); i += perFrame) {
                    int n = Math.min(perFrame, w.blockCount() - i);
                    sendRun(w.disk(), w.firstBlock() + i, n, ByteBuffer.wrap(w.content(), i * blockBytes,
                            n * blockBytes));
                }
                yield w.content().length;
            }
            case Owed o -> {
                DiskSource disk = disks.get(o.disk());
                int blockBytes = disk.descriptor().blockSizeBytes();
                int maxRun = scratch.capacity() / blockBytes;
                for (long b = o.blocks().nextSetBit(0); b >= 0; ) {
                    long end = o.blocks().nextClearBit(b);
                    end = end < 0 ? disk.descriptor().blockCount() : end;
                    int n = (int) Math.min(end - b, maxRun);
                    scratch.clear().limit(n * blockBytes);
                    disk.readBlocks(b, n, scratch);
                    scratch.flip();
                    sendRun(o.disk(), b, n, scratch);
                    b = o.blocks().nextSetBit(b + n);
                }
                yield o.blocks().cardinality() * blockBytes;
            }
        };
    }

    private void sendRun(int disk, long first, int count, ByteBuffer content) throws MigrationException {
        if (DiskCopy.isZero(content)) {
            link.sendPaced(new DiskFrames.DiskBlocks(disk, true, first, count, null).write(writer));
        } else {
            ByteBuffer b = DiskFrames.DiskBlocks.beginData(writer, disk, first, count);
            b.put(content.duplicate());
            link.sendPaced(DiskFrames.DiskBlocks.endData(writer, b, content.remaining()));
        }
        lock.lock();
        try {
            sent[disk].addRange(first, count);
            blocksSent[disk] += count;
        } finally {
            lock.unlock();
        }
    }

    /** Stops the sending thread; writes waiting on it are let go. Idempotent. */
    @Override
    public void close() {
        lock.lock();
        try {
            closed = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
