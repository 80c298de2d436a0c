package io.livemig.disk.internal;

import io.livemig.spi.BlockTracker;
import io.livemig.spi.PageSet;
import io.livemig.spi.VmOperationException;
import java.io.IOException;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.locks.ReadWriteLock;

/**
 * The {@link BlockTracker} of an image: the live set in memory and the persistent
 * {@link ChangeLog}, both changed under the image's write lock, so that a write, a collect and a
 * confirm never interleave.
 *
 * <p>The image calls {@link #beforeWrite} and {@link #afterWrite} around each guest write, with
 * its write lock held: the change log's bits are set before the data reaches the file (a crash
 * between the two leaves a bit set for a block that may not have changed, never the reverse),
 * the live bits after (a collect that sees the bit finds the new data).
 *
 * <p><b>Threading.</b> Thread-safe through the image's lock.
 */
public final class DsyncTracker implements BlockTracker {

    private final ReadWriteLock lock;
    private final ChangeLog log;
    private final long blockCount;
    private final String name;
    /** The live set, bitmap words in {@link PageSet}'s layout; null while stopped. Guarded by the write lock. */
    private long[] live;

    /**
     * @param lock the image's lock: its write lock guards every change of the log and the live set
     * @param log  the image's change log, owned by the image
     * @param name the image, for messages
     */
    public DsyncTracker(ReadWriteLock lock, ChangeLog log, String name) {
        this.lock = lock;
        this.log = log;
        this.blockCount = log.blockCount();
        this.name = name;
    }

    /** Sets the change log bits of blocks {@code [first, last]}; the caller holds the write lock. */
    public void beforeWrite(long firstBlock, long lastBlock) {
        log.setRange(firstBlock, lastBlock);
    }

    /** Sets the live bits of blocks {@code [first, last]} if tracking runs; the caller holds the write lock. */
    public void afterWrite(long firstBlock, long lastBlock) {
        long[] words = live;
        if (words == null) {
            return;
        }
        long block = firstBlock;
        while (block <= lastBlock) {
            int bit = (int) (block & 63);
            int span = (int) Math.min(64 - bit, lastBlock - block + 1);
            words[(int) (block >>> 6)] |= span == 64 ? -1L : ((1L << span) - 1) << bit;
            block += span;
        }
    }

    @Override
    public void start() {
        lock.writeLock().lock();
        try {
            live = new long[(int) ((blockCount + 63) >>> 6)];
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public PageSet collect() {
        PageSet collected = new PageSet(blockCount);
        lock.writeLock().lock();
        try {
            long[] words = checkStarted();
            for (int word = 0; word < words.length; word++) {
                if (words[word] != 0) {
                    collected.orWord(word, words[word]);
                    words[word] = 0;
                }
            }
        } finally {
            lock.writeLock().unlock();
        }
        return collected;
    }

    @Override
    public void redirty(PageSet blocks) {
        checkSpan(blocks);
        lock.writeLock().lock();
        try {
            long[] words = checkStarted();
            for (int word = 0; word < words.length; word++) {
                words[word] |= blocks.word(word);
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public void stop() {
        lock.writeLock().lock();
        try {
            live = null;
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public Optional<String> generation() {
        lock.readLock().lock();
        try {
            return log.generation();
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public Optional<PageSet> changedSince(String generation) {
        Objects.requireNonNull(generation, "generation");
        lock.readLock().lock();
        try {
            return log.generation().filter(generation::equals).map(g -> log.toPageSet());
        } finally {
            lock.readLock().unlock();
        }
    }

    @Override
    public void pair(String generation) {
        SidecarHeader.checkGeneration(generation);
        lock.writeLock().lock();
        try {
            log.setAll();
            log.setGeneration(Optional.of(generation));
            log.force();
        } catch (IOException e) {
            throw new VmOperationException(name + ": cannot pair the change log " + log.path() + " with generation '"
                    + generation + "': " + e.getMessage(), e);
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public void confirm(PageSet blocks) {
        checkSpan(blocks);
        lock.writeLock().lock();
        try {
            log.clear(blocks, live);
        } finally {
            lock.writeLock().unlock();
        }
    }

    private long[] checkStarted() {
        if (live == null) {
            throw new IllegalStateException(name + ": block tracking is not started");
        }
        return live;
    }

    private void checkSpan(PageSet blocks) {
        if (blocks.pageSpan() != blockCount) {
            throw new IllegalArgumentException(name + ": a block set must span the disk's " + blockCount
                    + " blocks, this one spans " + blocks.pageSpan());
        }
    }
}
