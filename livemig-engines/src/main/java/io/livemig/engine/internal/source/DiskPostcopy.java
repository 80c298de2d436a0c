package io.livemig.engine.internal.source;

import io.livemig.api.MigrationException;
import io.livemig.engine.internal.wire.DiskFrames;
import io.livemig.spi.PageSet;

import java.util.ArrayList;
import java.util.List;

/**
 * The disks' side of the post-copy phase: the blocks announced missing at the switchover (DISK_MISSING)
 * are pushed in the background by {@link PostcopyPush}, and the blocks the destination's guest
 * waits for (BLOCK_REQUEST) go first. Each block crosses once, unless the link breaks: then every
 * announced block is pushed again after the recovery (the destination installs only the ones it
 * still lacks). When the phase ends, the blocks are confirmed to the change logs.
 *
 * <p>The migration's thread only.
 */
final class DiskPostcopy {

    /** Blocks per pushed batch: small, so that a demanded block never waits behind much. */
    private static final int PUSH_BATCH = 64;

    private final DiskCopy copy;
    private final List<PageSet> announced;
    private final List<PageSet> unsent = new ArrayList<>();
    private final long[] blocksSent;
    /** Blocks of {@link #unsent}, all disks: {@link #pending()} is asked once per push batch. */
    private long unsentCount;
    /** Per disk: where the push goes on from. */
    private final long[] cursor;
    private long pulled;

    DiskPostcopy(DiskCopy copy, List<PageSet> announced) {
        this.copy = copy;
        this.announced = announced;
        this.blocksSent = new long[announced.size()];
        this.cursor = new long[announced.size()];
        for (PageSet a : announced) {
            unsent.add(a.copy());
            unsentCount += a.cardinality();
        }
    }

    /** @return whether blocks are still to send */
    boolean pending() {
        return unsentCount > 0;
    }

    /** Sends every block the destination asked for and that was not sent yet. */
    void serveRequests(SourceLink link) throws MigrationException {
        DiskFrames.BlockRequest request;
        while ((request = link.pollBlockRequest()) != null) {
            PageSet u = unsent.get(request.disk());
            for (long block : request.blocks()) {
                if (u.contains(block)) {
                    copy.sendBlocks(request.disk(), block, 1);
                    u.remove(block);
                    unsentCount--;
                    blocksSent[request.disk()]++;
                    pulled++;
                }
            }
        }
    }

    /** Pushes the next batch of blocks: a run of the first disk that has some left. */
    void pushBatch() throws MigrationException {
        for (int i = 0; i < unsent.size(); i++) {
            PageSet u = unsent.get(i);
            // The push goes up each disk once: every block below the cursor has been sent.
            long first = u.nextSetBit(cursor[i]);
            if (first < 0) {
                continue;
            }
            long end = u.nextClearBit(first);
            end = end < 0 ? u.pageSpan() : end;
            int n = (int) Math.min(end - first, Math.min(PUSH_BATCH, copy.maxRunBlocks(i)));
            copy.sendBlocks(i, first, n);
            for (long b = first; b < first + n; b++) {
                u.remove(b);
            }
            blocksSent[i] += n;
            unsentCount -= n;
            cursor[i] = first + n;
            return;
        }
    }

    /** After a recovery: blocks in flight may be lost, so every announced block goes again. */
    void restart() {
        unsentCount = 0;
        java.util.Arrays.fill(cursor, 0);
        for (int i = 0; i < unsent.size(); i++) {
            unsent.get(i).clear();
            unsent.get(i).addAll(announced.get(i));
            unsentCount += announced.get(i).cardinality();
        }
    }

    /** @return blocks sent because the destination's guest waited for them */
    long pulled() {
        return pulled;
    }

    /** The destination confirmed the phase (it made the blocks durable before POSTCOPY_DONE). */
    void done() {
        copy.postcopyDone(announced, blocksSent);
    }
}
