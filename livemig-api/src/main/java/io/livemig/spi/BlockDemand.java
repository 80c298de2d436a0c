package io.livemig.spi;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Objects;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Post-copy for a disk on a migration target: the VM resumes before every block of the disk
 * arrived, and a guest request that touches a missing block waits until the block is there, as a
 * vCPU that touches a missing page does ({@link DemandPaging}). The engine announces the missing
 * blocks once, before the resume ({@link #arm}); the backend tells it about each missing block a
 * request needs ({@link Listener#missing}), and the engine installs blocks as they arrive,
 * demanded or pushed.
 *
 * <p><b>Writes.</b> A guest write that covers a missing block whole makes it present: its content
 * is the guest's, and the block that arrives later for it is dropped. A write that covers part of
 * a missing block waits for the block first, as a read does.
 *
 * <p><b>Threading.</b> {@link #install} is called by the engine's receiving thread while the
 * guest's requests run on the backend's threads; {@link Listener#missing} is called on the thread
 * of the request that waits and must not block.
 */
public interface BlockDemand {

    /** Told about each missing block a guest request needs, at most once per block. */
    @FunctionalInterface
    interface Listener {
        /**
         * Hears of a missing block a guest request needs.
         *
         * @param block a missing block a request waits for
         */
        void missing(long block);
    }

    /**
     * Marks {@code missing} as not yet present. Called once, before the target resumes.
     *
     * @param missing  block numbers, span {@link DiskDescriptor#blockCount()}; copied
     * @param listener told about each missing block a request needs
     * @throws IllegalStateException if already armed
     */
    void arm(PageSet missing, Listener listener);

    /**
     * Installs the blocks of a run that are still missing, and wakes the requests waiting on them;
     * a block of the run already present (arrived before, or written whole by the guest since) is
     * left as it is.
     *
     * @param firstBlock the first block
     * @param blockCount how many blocks
     * @param content    exactly {@code blockCount} whole blocks (position..limit), read during the call only
     * @return how many blocks of the run were installed
     * @throws IndexOutOfBoundsException if the run is not on the disk
     * @throws IllegalArgumentException  if {@code content} is not {@code blockCount} whole blocks
     * @throws VmOperationException      if the backend fails to write
     */
    int install(long firstBlock, int blockCount, ByteBuffer content);

    /** {@return how many blocks are still missing} */
    long missingBlocks();

    /**
     * Ends demand fetching. Every block should be present; requests waiting on a block that never
     * came stay waiting until the disk is closed. Idempotent.
     */
    void disarm();

    /**
     * The bookkeeping a backend implements {@link BlockDemand} with: which blocks are missing,
     * which of them the listener was told about, and the requests waiting on them. The backend
     * keeps its own {@link BlockDemand#install} (it owns the bytes) and calls:
     * <ul>
     *   <li>{@link #awaitPresent} at the start of a guest request, before it takes its own locks,
     *       for every block the request reads and for a block a write covers only in part;</li>
     *   <li>{@link #supersede} for the blocks a guest write covers whole, under its write lock,
     *       once the write's bytes are in place;</li>
     *   <li>{@link #isMissing} and, once the block's bytes are written, {@link #installed} for each
     *       block of an install, all three steps under its write lock.</li>
     * </ul>
     *
     * <p><b>Why not one "claim" call.</b> A block leaves the missing set only once its bytes are
     * in place (after the install's write, after the guest's write). A request that finds it
     * present, or is woken for it, then reads the new bytes even if it reads without the backend's
     * lock (an in-memory disk), and a write that fails leaves the block missing, so the block that
     * arrives later still fills it. The backend's write lock held from {@link #isMissing} to
     * {@link #installed} keeps a guest write from falling between the check and the install.
     *
     * <p><b>Waiting</b> is uninterruptible: an interrupted request keeps waiting, with its interrupt
     * flag set when it returns, because returning early would hand the guest bytes that are not its
     * disk's. Only the blocks' arrival, a guest write covering them whole, or {@link #close} ends it.
     *
     * <p><b>Cost.</b> While nothing is missing (never armed, or every block present),
     * {@link #awaitPresent}, {@link #supersede} and {@link #isMissing} read one volatile field.
     *
     * <p><b>Threading.</b> Thread-safe: one lock guards the state, and its condition wakes the
     * waiting requests. The listener is called outside that lock, on the requesting thread, so it
     * may take the engine's locks even while the engine's receiving thread installs blocks.
     * Lock order: the backend's locks, then this gate's.
     */
    final class Gate {
        private final String what;
        private final long blockCount;
        private final ReentrantLock lock = new ReentrantLock();
        /** Signalled when a block leaves the missing set, and on close. */
        private final Condition changed = lock.newCondition();
        /** Guarded by lock; null until first armed. */
        private PageSet missing;
        /** The missing blocks the listener was told about. Guarded by lock; null until first armed. */
        private PageSet reported;
        /** Guarded by lock; null when not armed. */
        private Listener listener;
        /** Requests waiting on {@link #changed}. Guarded by lock. */
        private int waiters;
        /** Guarded by lock. */
        private boolean closed;
        /** The cardinality of {@link #missing}; written under lock, read without it for the fast path. */
        private volatile long missingCount;

        /**
         * Creates a {@code Gate}.
         *
         * @param what       the disk, for error messages
         * @param blockCount the disk's block count, the span every missing set must have
         * @throws IllegalArgumentException if {@code blockCount} is negative
         */
        public Gate(String what, long blockCount) {
            Objects.requireNonNull(what, "what");
            if (blockCount < 0) {
                throw new IllegalArgumentException(what + ": a block count must not be negative, was " + blockCount);
            }
            this.what = what;
            this.blockCount = blockCount;
        }

        /**
         * As {@link BlockDemand#arm}: from now on the blocks of {@code missing} are missing, and
         * the listener hears of each one a request waits for. Arming again after {@link #disarm}
         * replaces the missing set.
         *
         * @param missing  the missing blocks, span {@code blockCount}; copied
         * @param listener told about each missing block a request needs, at most once per block
         * @throws IllegalArgumentException if {@code missing}'s span is not the block count
         * @throws IllegalStateException    if armed already, or closed
         */
        public void arm(PageSet missing, Listener listener) {
            Objects.requireNonNull(missing, "missing");
            Objects.requireNonNull(listener, "listener");
            if (missing.pageSpan() != blockCount) {
                throw new IllegalArgumentException(what + ": the missing set spans " + missing.pageSpan()
                        + " blocks, the disk has " + blockCount);
            }
            lock.lock();
            try {
                if (closed) {
                    throw new IllegalStateException(what + " is closed");
                }
                if (this.listener != null) {
                    throw new IllegalStateException(what + " is armed already");
                }
                this.missing = missing.copy();
                this.reported = new PageSet(blockCount);
                this.listener = listener;
                missingCount = this.missing.cardinality();
                changed.signalAll(); // requests left waiting by an earlier arming re-check
            } finally {
                lock.unlock();
            }
        }

        /** {@return whether armed: {@link #arm} was called, and neither {@link #disarm} nor {@link #close} since} */
        public boolean armed() {
            lock.lock();
            try {
                return listener != null;
            } finally {
                lock.unlock();
            }
        }

        /** {@return how many blocks are still missing; 0 if never armed} */
        public long missingBlocks() {
            return missingCount;
        }

        /**
         * As {@link BlockDemand#disarm}: the listener hears of no more blocks. Blocks still missing
         * stay missing, and requests for them keep waiting until they are installed or written
         * whole, or the gate is closed. Idempotent.
         */
        public void disarm() {
            lock.lock();
            try {
                listener = null;
            } finally {
                lock.unlock();
            }
        }

        /**
         * The disk is closing: every waiting request returns, and so does every later call to
         * {@link #awaitPresent} (the backend then fails the request as closed). Disarms. Idempotent.
         */
        public void close() {
            lock.lock();
            try {
                closed = true;
                listener = null;
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }

        /**
         * Waits until every block of {@code [firstBlock, lastBlock]} is present. First the listener
         * hears, in ascending order, of each missing block of the range it was not told about yet
         * (by this request or another); then the call waits, uninterruptibly (see the class
         * comment), until none of the range is missing or the gate is closed. Call it before
         * taking the backend's locks. Returns at once while nothing is missing.
         *
         * @param firstBlock the first block the request touches
         * @param lastBlock  the last block it touches, inclusive
         * @throws IndexOutOfBoundsException if the range is empty or not on the disk (checked only
         *                                   while a block is missing)
         * @throws RuntimeException          what the listener throws; the blocks it was not told
         *                                   about are reported again by the next request
         */
        public void awaitPresent(long firstBlock, long lastBlock) {
            if (missingCount == 0) {
                return;
            }
            long[] toReport = null;
            int reports = 0;
            Listener told;
            lock.lock();
            try {
                if (firstBlock < 0 || lastBlock < firstBlock || lastBlock >= blockCount) {
                    throw new IndexOutOfBoundsException(what + ": blocks [" + firstBlock + ", " + lastBlock
                            + "] are not on the disk of " + blockCount + " blocks");
                }
                if (closed || !anyMissing(firstBlock, lastBlock)) {
                    return;
                }
                told = listener;
                if (told != null) {
                    for (long block = missing.nextSetBit(firstBlock); block >= 0 && block <= lastBlock;
                         block = missing.nextSetBit(block + 1)) {
                        if (!reported.contains(block)) {
                            reported.add(block);
                            if (toReport == null) {
                                toReport = new long[(int) Math.min(16, lastBlock - block + 1)];
                            } else if (reports == toReport.length) {
                                toReport = Arrays.copyOf(toReport, reports * 2);
                            }
                            toReport[reports++] = block;
                        }
                    }
                }
            } finally {
                lock.unlock();
            }
            report(told, toReport, reports);
            lock.lock();
            try {
                waiters++;
                try {
                    while (!closed && anyMissing(firstBlock, lastBlock)) {
                        changed.awaitUninterruptibly();
                    }
                } finally {
                    waiters--;
                }
            } finally {
                lock.unlock();
            }
        }

        /** Tells {@code told} of the blocks; if it throws, those it was not told of become unreported. */
        private void report(Listener told, long[] blocks, int count) {
            int done = 0;
            try {
                for (; done < count; done++) {
                    told.missing(blocks[done]);
                }
            } finally {
                if (done < count) {
                    lock.lock();
                    try {
                        for (int i = done; i < count; i++) {
                            reported.remove(blocks[i]);
                        }
                    } finally {
                        lock.unlock();
                    }
                }
            }
        }

        /**
         * A guest write covered {@code [firstBlock, lastBlock]} whole, and its bytes are in place:
         * those blocks are present now, and the blocks that arrive for them later are dropped.
         * Wakes the requests waiting on them. Call it under the backend's write lock, after the
         * write (a write that failed leaves its blocks missing).
         *
         * @param firstBlock the first block written whole
         * @param lastBlock  the last one, inclusive; below {@code firstBlock}: nothing
         */
        public void supersede(long firstBlock, long lastBlock) {
            if (missingCount == 0 || lastBlock < firstBlock) {
                return;
            }
            lock.lock();
            try {
                long removed = 0;
                for (long block = missing.nextSetBit(firstBlock); block >= 0 && block <= lastBlock;
                     block = missing.nextSetBit(block + 1)) {
                    missing.remove(block);
                    removed++;
                }
                if (removed > 0) {
                    missingCount -= removed;
                    if (waiters > 0) {
                        changed.signalAll();
                    }
                }
            } finally {
                lock.unlock();
            }
        }

        /**
         * Whether {@code block} is missing: an install writes its bytes only then, and calls
         * {@link #installed} after. Call both under the backend's write lock.
         *
         * @param block a block number; false for one not on the disk
         * @return whether the block is missing
         */
        public boolean isMissing(long block) {
            if (missingCount == 0) {
                return false;
            }
            lock.lock();
            try {
                return missing.contains(block);
            } finally {
                lock.unlock();
            }
        }

        /**
         * The install wrote {@code block}'s bytes: the block is present, and the requests waiting
         * on it wake. Call it under the backend's write lock, after {@link #isMissing} returned
         * true and the bytes were written. A block not missing is left as it is.
         *
         * @param block the block installed
         */
        public void installed(long block) {
            lock.lock();
            try {
                if (missing != null && missing.contains(block)) {
                    missing.remove(block);
                    missingCount--;
                    if (waiters > 0) {
                        changed.signalAll();
                    }
                }
            } finally {
                lock.unlock();
            }
        }

        /** Caller holds lock, and a block is missing (so the set exists). */
        private boolean anyMissing(long firstBlock, long lastBlock) {
            long next = missing.nextSetBit(firstBlock);
            return next >= 0 && next <= lastBlock;
        }

        @Override
        public String toString() {
            return "BlockDemand.Gate[" + what + ", " + missingCount + " of " + blockCount + " blocks missing]";
        }
    }
}
